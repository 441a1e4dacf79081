-- The daily summary and reminders (storage/summary.py): indexes that let SQLite count from
-- the index alone, village by village, instead of visiting table rows. Chosen from the plans
-- and timings of bench/summary.py on a city-scale store.

-- Visits per village in a window of days, and the distinct households they reached.
CREATE INDEX visits_village_day ON visits(village_code, visit_day, voided, household_id);

-- A member's days in the village this month: whether each check-in counts, from the index.
CREATE INDEX checkins_member_day_counts
    ON checkins(member_id, day, decision, verified, in_fence);

-- Reminders: a visit's follow-up day, a problem's due day.
CREATE INDEX visits_follow_up ON visits(follow_up_day) WHERE follow_up_day IS NOT NULL;
CREATE INDEX problems_due ON problems(due_day);
