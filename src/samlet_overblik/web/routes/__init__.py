"""The web app's surfaces, one router each: session (log in/out), caseworker, compliance, operations."""
