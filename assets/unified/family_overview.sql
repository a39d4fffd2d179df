-- target: unified.family_overview
-- description: One row per family: each child's children-and-family measures beside the adults' job-centre benefits and adult social services.
-- depends: unified.family_members
-- Inputs: scope_family_members, scope_settings.
SELECT family_id,
       count(*) FILTER (role = 'barn') AS n_children,
       count(*) FILTER (role = 'voksen') AS n_adults,
       list_sort(list(person_key) FILTER (role = 'barn')) AS children,
       list_sort(list(person_key) FILTER (role = 'voksen')) AS adults,
       list_sort(flatten(list(child_measures) FILTER (role = 'barn'))) AS child_measures,
       list_sort(flatten(list(benefits) FILTER (role = 'voksen'))) AS adult_benefits,
       list_sort(flatten(list(social_services) FILTER (role = 'voksen'))) AS adult_social_services,
       coalesce(sum(len(child_measures)) FILTER (role = 'barn'), 0) AS n_child_measures,
       coalesce(sum(len(benefits)) FILTER (role = 'voksen'), 0) AS n_adult_benefits,
       coalesce(sum(len(social_services)) FILTER (role = 'voksen'), 0) AS n_adult_social_services,
       list_sort(list_distinct([CASE WHEN sum(active_boern_familie) > 0 THEN 'boern_familie' END,
                                CASE WHEN sum(active_beskaeftigelse) > 0 THEN 'beskaeftigelse' END,
                                CASE WHEN sum(active_social_voksen) > 0 THEN 'social_voksen' END,
                                CASE WHEN sum(active_sundhed_aeldre) > 0 THEN 'sundhed_aeldre' END])) AS departments,
       (sum(active_boern_familie) > 0)::INTEGER + (sum(active_beskaeftigelse) > 0)::INTEGER
         + (sum(active_social_voksen) > 0)::INTEGER + (sum(active_sundhed_aeldre) > 0)::INTEGER AS n_departments,
       sum(annual_cost_dkk) AS annual_cost_dkk,
       coalesce(sum(len(child_measures)) FILTER (role = 'barn'), 0) > 0
         AND coalesce(sum(len(benefits)) FILTER (role = 'voksen'), 0) > 0 AS child_case_and_adult_benefits,
       any_value(s.reference_date) AS reference_date
FROM scope_family_members CROSS JOIN scope_settings s
GROUP BY family_id
