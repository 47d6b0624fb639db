-- Staff who enter a contact or a change for a colleague (the act_for_staff
-- capability) are kept beside the colleague the record is attributed to: the
-- contact history is evidence of who did what, and must name both. NULL when staff
-- recorded their own.
ALTER TABLE interactions ADD COLUMN recorded_by TEXT;
ALTER TABLE interaction_changes ADD COLUMN recorded_by TEXT;
