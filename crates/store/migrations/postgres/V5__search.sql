-- The trigram index behind the user search (`search` in Bold, the search filters of the other
-- dialects). pg_trgm is a trusted extension (PostgreSQL 13+): the database owner may create it.
-- The expression must stay identical to `SEARCH_DOC_PG` in store/src/sql.rs.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE INDEX users_search_trgm_idx ON users USING gin (
    (lower(coalesce(first_name, '')) || chr(10) || lower(coalesce(last_name, '')) || chr(10)
     || coalesce(email_lower, '') || chr(10) || coalesce(phone, '')) gin_trgm_ops
);
