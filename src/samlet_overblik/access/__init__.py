"""Who sees what, and the record of it: the lookups shared by the CLI, the JSON API and the web app (borger), users,
authentication and the access log (audit)."""
