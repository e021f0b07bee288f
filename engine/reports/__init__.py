"""Session reports (PDF, CSV, JSON) and de-identified exports. Subject codes only: no names and
no file paths leave the database through here."""
