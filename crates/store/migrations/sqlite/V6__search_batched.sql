-- The trigram index is now brought up to date once per transaction instead of once per row.
--
-- FTS5 writes its pending index data out as a new segment at the start of every statement that
-- runs in a statement transaction (a trigger's statement does), so with triggers writing to
-- `users_search` each changed user became a segment of its own, and merging those segments was
-- most of a write's cost. The triggers now only note the user's id in `users_search_dirty`; the
-- writer (store/src/sqlite/writer.rs) re-indexes the noted users with one statement just before
-- each transaction commits, and empties the table, so the index stays exact at every commit.
CREATE TABLE users_search_dirty (id INTEGER PRIMARY KEY);

DROP TRIGGER users_search_insert;
DROP TRIGGER users_search_update;
DROP TRIGGER users_search_delete;

CREATE TRIGGER users_search_insert AFTER INSERT ON users BEGIN
    INSERT OR IGNORE INTO users_search_dirty (id) VALUES (new.id);
END;

CREATE TRIGGER users_search_update AFTER UPDATE OF first_name, last_name, email_lower, phone
ON users WHEN old.first_name IS NOT new.first_name OR old.last_name IS NOT new.last_name
    OR old.email_lower IS NOT new.email_lower OR old.phone IS NOT new.phone
BEGIN
    INSERT OR IGNORE INTO users_search_dirty (id) VALUES (new.id);
END;

CREATE TRIGGER users_search_delete AFTER DELETE ON users BEGIN
    INSERT OR IGNORE INTO users_search_dirty (id) VALUES (old.id);
END;

-- FTS5's automatic merging ran inside commits in lumps of 10-50 ms; the writer merges in small
-- steps instead (`merge_search` in writer.rs).
INSERT INTO users_search (users_search, rank) VALUES ('automerge', 0);
