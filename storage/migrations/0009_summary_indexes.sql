-- The daily summary and reminders (storage/summary.py): indexes that let SQLite count from an
-- index alone, village by village, instead of visiting table rows. Chosen from the plans and
-- timings of bench/summary.py on a city-scale store (each cut a statement 5-10x there).

-- Households covered as of now, per village (a range on last_visit_at).
CREATE INDEX households_village_visit ON households(village_code, last_visit_at);

-- Households with a 两不愁三保障 item not met: the few, per village.
CREATE INDEX households_not_met ON households(village_code)
    WHERE food = 'not_met' OR clothing = 'not_met' OR education = 'not_met' OR medical = 'not_met' OR housing = 'not_met' OR water = 'not_met';

-- Visits per village in a window of days (and the distinct households, for a past day).
CREATE INDEX visits_village_day ON visits(village_code, visit_day, voided, household_id);

-- A member's days in the village this month: whether each check-in counts, from the index.
CREATE INDEX checkins_member_day_counts
    ON checkins(member_id, day, decision, verified, in_fence);

-- Problems per village: new, open, overdue, urgent without reading the rows.
CREATE INDEX problems_village_counts
    ON problems(village_code, voided, status, severity, due_day, created_at);

-- Reminders: a visit's follow-up day, a problem's due day.
CREATE INDEX visits_follow_up ON visits(follow_up_day) WHERE follow_up_day IS NOT NULL;
CREATE INDEX problems_due ON problems(due_day);
