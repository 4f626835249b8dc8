"""Write actions (Kombo's upsert courses, deactivate course, enroll, complete) and their background worker."""
