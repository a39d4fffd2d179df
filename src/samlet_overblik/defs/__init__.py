"""The thin Dagster layer: asset factories, resources, jobs, schedules, sensors and checks over the domain modules."""
