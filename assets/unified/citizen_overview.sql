-- target: unified.citizen_overview
-- description: One row per citizen: departments, active interventions per department, cost across departments, coordinating caseworker and Høje-Taastrup's targeting flags, each explained in Danish.
-- depends: unified.interventions, staging.coordination_plans
-- Inputs: scope_interventions, scope_coordination_plans, scope_settings (the same SQL builds every department's copy).
WITH per_record AS (
    SELECT i.*,
           i.status = 'aktiv' AS active,
           (i.kind IN ('indsats', 'ydelse') OR i.monthly_cost IS NOT NULL) AS is_service,
           -- days of the record inside the 365 days up to the reference date
           greatest(0, date_diff('day',
               greatest(i.start_date, s.reference_date - INTERVAL 364 DAY)::DATE,
               least(coalesce(i.end_date, s.reference_date), s.reference_date)) + 1) AS days_in_window
    FROM scope_interventions i CROSS JOIN scope_settings s
    WHERE i.person_key IS NOT NULL
),
per_person AS (
    SELECT person_key,
           list_sort(list(DISTINCT department) FILTER (active)) AS departments,
           count(DISTINCT department) FILTER (active) AS n_departments,
           count(*) FILTER (active) AS active_interventions,
           count(*) FILTER (active AND department = 'boern_familie') AS active_boern_familie,
           count(*) FILTER (active AND department = 'beskaeftigelse') AS active_beskaeftigelse,
           count(*) FILTER (active AND department = 'social_voksen') AS active_social_voksen,
           count(*) FILTER (active AND department = 'sundhed_aeldre') AS active_sundhed_aeldre,
           count(*) FILTER (active AND is_service) AS active_services,
           coalesce(sum(monthly_cost) FILTER (active), 0) AS monthly_cost_dkk,
           coalesce(sum(monthly_cost * 12 * days_in_window / 365.0), 0) AS annual_cost_dkk,
           list_sort(list(DISTINCT caseworker) FILTER (active AND caseworker IS NOT NULL)) AS caseworkers,
           count(DISTINCT caseworker) FILTER (active) AS n_caseworkers,
           min(data_as_of) AS data_as_of
    FROM per_record
    GROUP BY person_key
),
plans AS (
    SELECT person_key,
           arg_max(coordinator, coalesce(created_date, DATE '1900-01-01')) AS coordinating_caseworker,
           arg_max(department, coalesce(created_date, DATE '1900-01-01')) AS coordinating_department
    FROM scope_coordination_plans
    WHERE person_key IS NOT NULL
    GROUP BY person_key
),
flagged AS (
    SELECT p.*, c.coordinating_caseworker, c.coordinating_department, s.reference_date,
           p.n_departments >= s.min_departments AS flag_departments,
           p.active_services >= s.min_services AS flag_services,
           p.annual_cost_dkk >= s.min_annual_cost_dkk AS flag_cost,
           s.min_departments, s.min_services, s.min_annual_cost_dkk
    FROM per_person p
    CROSS JOIN scope_settings s
    LEFT JOIN plans c USING (person_key)
)
SELECT person_key, departments, n_departments, active_interventions,
       active_boern_familie, active_beskaeftigelse, active_social_voksen, active_sundhed_aeldre, active_services,
       CAST(monthly_cost_dkk AS DECIMAL(14, 2)) AS monthly_cost_dkk,
       CAST(annual_cost_dkk AS DECIMAL(14, 2)) AS annual_cost_dkk,
       caseworkers, n_caseworkers, coordinating_caseworker, coordinating_department,
       flag_departments, flag_services, flag_cost,
       flag_departments OR flag_services OR flag_cost AS complex_case,
       nullif(concat_ws('; ',
           CASE WHEN flag_departments THEN printf('Aktiv i %d afdelinger (%s) – grænsen er %d', n_departments,
               array_to_string(list_transform(departments, lambda d: department_name(d)), ', '), min_departments) END,
           CASE WHEN flag_services THEN printf('%d aktive ydelser/indsatser – grænsen er %d', active_services, min_services) END,
           CASE WHEN flag_cost THEN printf('Koster %s kr. om året på tværs af afdelinger – grænsen er %s kr.',
               replace(format('{:,}', CAST(round(annual_cost_dkk) AS BIGINT)), ',', '.'),
               replace(format('{:,}', CAST(round(min_annual_cost_dkk) AS BIGINT)), ',', '.')) END
       ), '') AS flags_explained,
       data_as_of, reference_date
FROM flagged
