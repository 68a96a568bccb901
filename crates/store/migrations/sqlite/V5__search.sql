-- The trigram index behind the user search (`search` in Bold, the search filters of the other
-- dialects): a contentless FTS5 table keyed by the user's id holding first name, last name, email
-- and phone. A search whose term matches few users finds them here instead of scanning the table;
-- the query still checks each candidate with the exact LIKE conditions (see store/src/sql.rs).
CREATE VIRTUAL TABLE users_search USING fts5 (
    doc, content = '', contentless_delete = 1, tokenize = 'trigram'
);

INSERT INTO users_search (rowid, doc)
SELECT id, coalesce(first_name, '') || char(10) || coalesce(last_name, '') || char(10)
           || coalesce(email_lower, '') || char(10) || coalesce(phone, '')
FROM users;

CREATE TRIGGER users_search_insert AFTER INSERT ON users BEGIN
    INSERT INTO users_search (rowid, doc)
    VALUES (new.id, coalesce(new.first_name, '') || char(10) || coalesce(new.last_name, '')
                    || char(10) || coalesce(new.email_lower, '') || char(10)
                    || coalesce(new.phone, ''));
END;

CREATE TRIGGER users_search_update AFTER UPDATE OF first_name, last_name, email_lower, phone
ON users BEGIN
    DELETE FROM users_search WHERE rowid = old.id;
    INSERT INTO users_search (rowid, doc)
    VALUES (new.id, coalesce(new.first_name, '') || char(10) || coalesce(new.last_name, '')
                    || char(10) || coalesce(new.email_lower, '') || char(10)
                    || coalesce(new.phone, ''));
END;

CREATE TRIGGER users_search_delete AFTER DELETE ON users BEGIN
    DELETE FROM users_search WHERE rowid = old.id;
END;
