//! SQL shared by both backends: the user columns and the user filter tree compiled to a WHERE
//! clause. Where SQLite and PostgreSQL differ (placeholders, case-sensitive matching, JSON), the
//! builder asks its [`Dialect`].

use usher_core::model::ROLE_USER;
use usher_core::ports::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    Sqlite,
    Postgres,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Param {
    I64(i64),
    Text(String),
    Bool(bool),
    /// An array parameter (`bigint[]`), bound only on PostgreSQL.
    I64s(Vec<i64>),
    /// An array parameter (`text[]`), bound only on PostgreSQL.
    Texts(Vec<String>),
}

impl Param {
    /// The value as JSON, for a list bound as one JSON array on SQLite.
    pub(crate) fn to_json(&self) -> serde_json::Value {
        match self {
            Param::I64(i) => (*i).into(),
            Param::Text(t) => t.as_str().into(),
            Param::Bool(b) => (*b).into(),
            Param::I64s(v) => v.as_slice().into(),
            Param::Texts(v) => v.as_slice().into(),
        }
    }
}

/// Every column of `users` in the order the row readers expect.
pub(crate) const USER_COLUMNS: &str = "id, organization_id, username, first_name, last_name, \
    nick_name, display_name, preferred_language, gender, email, email_verified, \
    email_verify_requested, new_email_requested, phone, phone_verified, phone_verify_requested, \
    password_hash, password_change_required, state, super_user, roles, external_id, client_id, \
    description, remarks, auto_remove_after, auto_remove_date, auto_email_match, \
    require_email_match, email_match_credential_filter, auth_organization_id, attributes, \
    sequence, created_at, modified_at, password_changed_at, failed_password_attempts, \
    password_locked_until";

/// A user and its invitation in one row: the user's columns, then the invitation's (all NULL
/// without one).
pub(crate) static USER_WITH_INVITATION: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| {
        let inv = INVITATION_COLUMNS
            .split(", ")
            .map(|c| format!("i.{}", c.trim()))
            .collect::<Vec<_>>()
            .join(", ");
        format!(
            "SELECT {}, {inv} FROM users u LEFT JOIN invitations i ON i.user_id = u.id \
         WHERE u.id = ?1",
            user_columns_aliased()
        )
    });

/// The columns of an invitation row, in the order the row readers expect.
pub(crate) const INVITATION_COLUMNS: &str = "user_id, token, expires_at, language, email, phone, sent_email, sent_sms, accepted_at, created_at, url_template";

/// The number of columns in [`USER_COLUMNS`].
pub(crate) const USER_COLUMN_COUNT: usize = 38;

/// Written with SQLite placeholders; [`pg`] turns them into PostgreSQL ones.
pub(crate) const INSERT_USER: &str = "INSERT INTO users (id, organization_id, username, first_name, \
    last_name, nick_name, display_name, preferred_language, gender, email, email_verified, \
    email_verify_requested, new_email_requested, phone, phone_verified, phone_verify_requested, \
    password_hash, password_change_required, state, super_user, roles, external_id, client_id, \
    description, remarks, auto_remove_after, auto_remove_date, auto_email_match, \
    require_email_match, email_match_credential_filter, auth_organization_id, attributes, \
    sequence, created_at, modified_at, email_lower, password_changed_at, \
    failed_password_attempts, password_locked_until) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, \
    ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28, \
    ?29, ?30, ?31, ?32, ?33, ?34, ?35, ?36, ?37, ?38, ?39)";

/// Full-row update guarded by the expected sequence (`?40`).
pub(crate) const UPDATE_USER: &str = "UPDATE users SET organization_id = ?2, username = ?3, \
    first_name = ?4, last_name = ?5, nick_name = ?6, display_name = ?7, preferred_language = ?8, \
    gender = ?9, email = ?10, email_verified = ?11, email_verify_requested = ?12, \
    new_email_requested = ?13, phone = ?14, phone_verified = ?15, phone_verify_requested = ?16, \
    password_hash = ?17, password_change_required = ?18, state = ?19, super_user = ?20, \
    roles = ?21, external_id = ?22, client_id = ?23, description = ?24, remarks = ?25, \
    auto_remove_after = ?26, auto_remove_date = ?27, auto_email_match = ?28, \
    require_email_match = ?29, email_match_credential_filter = ?30, auth_organization_id = ?31, \
    attributes = ?32, sequence = ?33, created_at = ?34, modified_at = ?35, email_lower = ?36, \
    password_changed_at = ?37, failed_password_attempts = ?38, password_locked_until = ?39 \
    WHERE id = ?1 AND sequence = ?40";

/// `?N` placeholders to `$N`.
pub(crate) fn pg(sqlite: &str) -> String {
    sqlite.replace('?', "$")
}

/// The same columns with the table alias `u.`.
pub(crate) fn user_columns_aliased() -> String {
    USER_COLUMNS
        .split(", ")
        .map(|c| format!("u.{}", c.trim()))
        .collect::<Vec<_>>()
        .join(", ")
}

pub(crate) struct Sql {
    pub text: String,
    pub params: Vec<Param>,
    dialect: Dialect,
}

impl Sql {
    pub fn new(dialect: Dialect) -> Self {
        Self {
            text: String::new(),
            params: Vec::new(),
            dialect,
        }
    }

    /// Adds a parameter and returns its placeholder (numbered, so it can be used twice).
    fn bind(&mut self, p: Param) -> String {
        self.params.push(p);
        match self.dialect {
            Dialect::Sqlite => format!("?{}", self.params.len()),
            Dialect::Postgres => format!("${}", self.params.len()),
        }
    }

    fn push(&mut self, s: &str) {
        self.text.push_str(s);
    }
}

fn like_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The display name the API shows: the stored one, else "first last" (either alone when the
/// other is missing; `||` with NULL is NULL on both databases), as `User::full_name`.
const DISPLAY_NAME: &str = "coalesce(display_name, first_name || ' ' || last_name, first_name, \
    last_name)";

/// Lists longer than this are bound as one parameter instead of one per entry: a statement takes
/// at most 32,766 parameters on SQLite and 65,535 on PostgreSQL, and a client's `in…` query may
/// name more users than that (or a query tree hold many lists: the Zitadel dialect takes up to
/// 1,000 queries in one request, so a statement binds at most a few thousand parameters).
const IN_LIST_PARAMS: usize = 8;

/// `expr IN (…)` over `values` (all of one kind): one parameter each for short lists; for long
/// ones one array parameter on PostgreSQL (`= ANY($n)`, which the planner reads as a list of
/// index look-ups) and one JSON array read by `json_each` on SQLite, which has no arrays.
fn in_list(sql: &mut Sql, expr: &str, values: Vec<Param>) {
    if values.len() <= IN_LIST_PARAMS {
        let list: Vec<String> = values.into_iter().map(|v| sql.bind(v)).collect();
        sql.push(&format!("{expr} IN ({})", list.join(", ")));
        return;
    }
    match sql.dialect {
        Dialect::Sqlite => {
            let json: Vec<serde_json::Value> = values.iter().map(Param::to_json).collect();
            let p = sql.bind(Param::Text(serde_json::Value::Array(json).to_string()));
            sql.push(&format!("{expr} IN (SELECT value FROM json_each({p}))"));
        }
        Dialect::Postgres => {
            let array = if matches!(values.first(), Some(Param::I64(_))) {
                Param::I64s(
                    values
                        .into_iter()
                        .filter_map(|v| match v {
                            Param::I64(i) => Some(i),
                            _ => None,
                        })
                        .collect(),
                )
            } else {
                Param::Texts(
                    values
                        .into_iter()
                        .filter_map(|v| match v {
                            Param::Text(t) => Some(t),
                            _ => None,
                        })
                        .collect(),
                )
            };
            let p = sql.bind(array);
            sql.push(&format!("{expr} = ANY({p})"));
        }
    }
}

/// No stored text holds a NUL character (every text input refuses control characters, and
/// PostgreSQL cannot store one), so a condition on such a value matches nobody. It must not
/// reach the database: SQLite cuts a LIKE pattern or an FTS5 query at the NUL (`%\0%` matched
/// everyone, and a phrase failed as unterminated), and PostgreSQL refuses the parameter.
fn matches_nothing(value: &str) -> bool {
    value.contains('\0')
}

fn column(f: TextField) -> &'static str {
    match f {
        TextField::Username => "username",
        TextField::FirstName => "first_name",
        TextField::LastName => "last_name",
        TextField::NickName => "nick_name",
        TextField::DisplayName => DISPLAY_NAME,
        TextField::Email => "email",
        TextField::Phone => "phone",
        TextField::ExternalId => "external_id",
    }
}

fn text_condition(sql: &mut Sql, field: TextField, op: TextOp, value: &str) {
    if matches_nothing(value) {
        sql.push("1=0");
        return;
    }
    let col = column(field);
    let d = sql.dialect;
    let cond = match op {
        TextOp::Equals => format!("{col} = {}", sql.bind(Param::Text(value.to_owned()))),
        TextOp::EqualsIgnoreCase => {
            format!(
                "lower({col}) = {}",
                sql.bind(Param::Text(value.to_lowercase()))
            )
        }
        TextOp::StartsWithIgnoreCase | TextOp::ContainsIgnoreCase | TextOp::EndsWithIgnoreCase => {
            let v = like_escape(&value.to_lowercase());
            let pattern = match op {
                TextOp::StartsWithIgnoreCase => format!("{v}%"),
                TextOp::EndsWithIgnoreCase => format!("%{v}"),
                _ => format!("%{v}%"),
            };
            format!(
                "lower({col}) LIKE {} ESCAPE '\\'",
                sql.bind(Param::Text(pattern))
            )
        }
        // Case-sensitive matching: SQLite's LIKE ignores ASCII case, so use plain string functions.
        TextOp::StartsWith => {
            let p = sql.bind(Param::Text(value.to_owned()));
            format!("substr({col}, 1, length({p})) = {p}")
        }
        TextOp::EndsWith => {
            let p = sql.bind(Param::Text(value.to_owned()));
            match d {
                Dialect::Sqlite => {
                    format!("(length({p}) = 0 OR substr({col}, -length({p})) = {p})")
                }
                Dialect::Postgres => format!("right({col}, length({p})) = {p}"),
            }
        }
        TextOp::Contains => {
            let p = sql.bind(Param::Text(value.to_owned()));
            match d {
                Dialect::Sqlite => format!("instr({col}, {p}) > 0"),
                Dialect::Postgres => format!("strpos({col}, {p}) > 0"),
            }
        }
    };
    sql.push(&format!("({col} IS NOT NULL AND {cond})"));
}

/// `parts` joined by `joiner` as a balanced tree, `((a OR b) OR (c OR d))`: SQLite refuses an
/// expression more than 1,000 deep, and a chain `a OR b OR c …` is as deep as it is long (a
/// Zitadel `orQuery` of 999 queries failed).
fn joined(sql: &mut Sql, parts: &[UserFilter], joiner: &str) {
    if let [one] = parts {
        return user_filter(sql, one);
    }
    let (left, right) = parts.split_at(parts.len() / 2);
    sql.push("(");
    joined(sql, left, joiner);
    sql.push(joiner);
    joined(sql, right, joiner);
    sql.push(")");
}

/// Appends `f` as a boolean SQL expression.
pub(crate) fn user_filter(sql: &mut Sql, f: &UserFilter) {
    match f {
        UserFilter::All => sql.push("1=1"),
        UserFilter::None => sql.push("1=0"),
        UserFilter::And(parts) | UserFilter::Or(parts) => {
            if parts.is_empty() {
                sql.push(if matches!(f, UserFilter::And(_)) {
                    "1=1"
                } else {
                    "1=0"
                });
                return;
            }
            let joiner = if matches!(f, UserFilter::And(_)) {
                " AND "
            } else {
                " OR "
            };
            joined(sql, parts, joiner);
        }
        UserFilter::Not(inner) => {
            sql.push("NOT (");
            user_filter(sql, inner);
            sql.push(")");
        }
        UserFilter::Org(org) => {
            let p = sql.bind(Param::I64(org.0));
            sql.push(&format!("organization_id = {p}"));
        }
        UserFilter::Id(id) => {
            let p = sql.bind(Param::I64(id.0));
            sql.push(&format!("id = {p}"));
        }
        UserFilter::Ids(ids) => {
            if ids.is_empty() {
                sql.push("1=0");
                return;
            }
            in_list(sql, "id", ids.iter().map(|i| Param::I64(i.0)).collect());
        }
        UserFilter::InGroup(g) => {
            let p = sql.bind(Param::I64(g.0));
            sql.push(&format!(
                "id IN (SELECT user_id FROM user_group_members WHERE group_id = {p})"
            ));
        }
        UserFilter::VisibleToGroupAdmin(admin) => {
            let p = sql.bind(Param::I64(admin.0));
            sql.push(&format!(
                "(id = {p} OR id IN (SELECT m.user_id FROM user_group_members m \
                 JOIN user_group_members a ON a.group_id = m.group_id \
                 WHERE a.user_id = {p} AND a.group_admin = TRUE))"
            ));
        }
        UserFilter::Text { field, op, value } => text_condition(sql, *field, *op, value),
        UserFilter::Search(s) if matches_nothing(s) => sql.push("1=0"),
        UserFilter::Search(s) => {
            let p = sql.bind(Param::Text(format!("%{}%", like_escape(&s.to_lowercase()))));
            // On PostgreSQL the trigram index over the four columns narrows the candidates
            // (LIKE's default escape character is the backslash there).
            if sql.dialect == Dialect::Postgres {
                sql.push(&format!("({SEARCH_DOC_PG} LIKE {p} AND "));
            }
            sql.push(&format!(
                "(lower(first_name) LIKE {p} ESCAPE '\\' OR lower(last_name) LIKE {p} ESCAPE '\\' \
                 OR email_lower LIKE {p} ESCAPE '\\' OR phone LIKE {p} ESCAPE '\\')"
            ));
            if sql.dialect == Dialect::Postgres {
                sql.push(")");
            }
        }
        UserFilter::Emails(list) => {
            let emails: Vec<Param> = list
                .iter()
                .filter(|e| !matches_nothing(e))
                .map(|e| Param::Text(e.to_lowercase()))
                .collect();
            if emails.is_empty() {
                sql.push("1=0");
                return;
            }
            in_list(sql, "email_lower", emails);
        }
        UserFilter::State(s) => {
            let p = sql.bind(Param::Text(s.as_str().to_owned()));
            sql.push(&format!("state = {p}"));
        }
        UserFilter::SuperUser(b) => {
            let p = sql.bind(Param::Bool(*b));
            sql.push(&format!("super_user = {p}"));
        }
        UserFilter::Role(role) => {
            if role == "ROLE_ADMIN_TENANT" {
                sql.push("super_user = TRUE");
            } else if role == ROLE_USER {
                sql.push("1=1");
            } else if matches_nothing(role) {
                sql.push("1=0");
            } else {
                let p = sql.bind(Param::Text(role.clone()));
                match sql.dialect {
                    Dialect::Sqlite => sql.push(&format!(
                        "EXISTS (SELECT 1 FROM json_each(roles) WHERE value = {p})"
                    )),
                    Dialect::Postgres => sql.push(&format!("roles ? {p}")),
                }
            }
        }
    }
}

fn sort_column(s: UserSort) -> &'static str {
    match s {
        UserSort::Id => "id",
        UserSort::Username => "username",
        UserSort::FirstName => "first_name",
        UserSort::LastName => "last_name",
        UserSort::NickName => "nick_name",
        UserSort::DisplayName => DISPLAY_NAME,
        UserSort::Email => "email_lower",
        UserSort::State => "state",
        UserSort::CreatedAt => "created_at",
    }
}

/// The expression PostgreSQL's trigram index `users_search_trgm_idx` is built on (migration
/// V5); a search condition must repeat it exactly for the planner to use the index.
pub(crate) const SEARCH_DOC_PG: &str = "(lower(coalesce(first_name, '')) || chr(10) || \
    lower(coalesce(last_name, '')) || chr(10) || coalesce(email_lower, '') || chr(10) || \
    coalesce(phone, ''))";

/// SQLite's trigram index `users_search` answers a search by itself when its term matches fewer
/// users than this; above it, walking the sort index and testing each row finds a page sooner.
pub(crate) const SEARCH_INDEX_MAX: i64 = 5000;

/// How many users (up to [`SEARCH_INDEX_MAX`]) the trigram index holds for `?1`, a phrase from
/// [`search_phrase`].
pub(crate) const SEARCH_PROBE: &str = "SELECT count(*) FROM (SELECT 1 FROM users_search \
    WHERE users_search MATCH ?1 LIMIT 5000)";

/// The search term every user matched by `f` must contain: a `Search` at the top of the filter
/// or in one of its top-level conjunctions.
pub(crate) fn required_search(f: &UserFilter) -> Option<&str> {
    match f {
        UserFilter::Search(s) => Some(s),
        UserFilter::And(parts) => parts.iter().find_map(required_search),
        _ => None,
    }
}

/// `term` as an FTS5 phrase for the trigram tokenizer, which needs three characters at least.
pub(crate) fn search_phrase(term: &str) -> Option<String> {
    (term.chars().count() >= 3 && !matches_nothing(term))
        .then(|| format!("\"{}\"", term.replace('"', "\"\"")))
}

/// `FROM users`, or on SQLite, when `phrase` is given, the users whose trigram-index entry holds
/// it, together with the users changed since the index was last brought up to date (noted in
/// `users_search_dirty`, whose index entries may be stale or missing; see the writer's
/// `reindex_search`). The index drives the query; the WHERE clause still checks every condition
/// exactly, so a stale entry that no longer matches is dropped there.
fn from_users(sql: &mut Sql, phrase: Option<&str>) {
    match (sql.dialect, phrase) {
        (Dialect::Sqlite, Some(phrase)) => {
            let p = sql.bind(Param::Text(phrase.to_owned()));
            sql.push(&format!(
                " FROM (SELECT rowid AS search_id FROM users_search WHERE users_search MATCH {p} \
                 UNION SELECT id FROM users_search_dirty) \
                 AS s CROSS JOIN users ON users.id = s.search_id WHERE "
            ));
        }
        _ => sql.push(" FROM users WHERE "),
    }
}

/// `SELECT … FROM users WHERE … ORDER BY … LIMIT … OFFSET …`. Missing values sort last in
/// both directions; ties break by id. `phrase`: see [`from_users`].
pub(crate) fn users_query(dialect: Dialect, q: &UserQuery, phrase: Option<&str>) -> Sql {
    let mut sql = Sql::new(dialect);
    sql.push("SELECT ");
    sql.push(USER_COLUMNS);
    from_users(&mut sql, phrase);
    user_filter(&mut sql, &q.filter);
    let dir = |d: Direction| match d {
        Direction::Asc => "ASC",
        Direction::Desc => "DESC",
    };
    sql.push(" ORDER BY ");
    let mut by_id = None;
    for (i, &(sort, direction)) in std::iter::once(&(q.sort, q.direction))
        .chain(&q.then_by)
        .enumerate()
    {
        if i > 0 {
            sql.push(", ");
        }
        if sort == UserSort::Id {
            // Ids are unique: nothing after them could change the order.
            by_id = Some(direction);
            sql.push(&format!("id {}", dir(direction)));
            break;
        }
        sql.push(&format!(
            "{} {} NULLS LAST",
            sort_column(sort),
            dir(direction)
        ));
    }
    if by_id.is_none() {
        sql.push(&format!(", id {}", dir(q.direction)));
    }
    let limit = sql.bind(Param::I64(q.limit.min(i64::MAX as u64) as i64));
    let offset = sql.bind(Param::I64(q.offset.min(i64::MAX as u64) as i64));
    sql.push(&format!(" LIMIT {limit} OFFSET {offset}"));
    sql
}

pub(crate) fn users_count(dialect: Dialect, f: &UserFilter, phrase: Option<&str>) -> Sql {
    let mut sql = Sql::new(dialect);
    sql.push("SELECT COUNT(*)");
    from_users(&mut sql, phrase);
    user_filter(&mut sql, f);
    sql
}

pub(crate) fn groups_query(dialect: Dialect, q: &GroupQuery) -> Sql {
    let mut sql = Sql::new(dialect);
    sql.push(
        "SELECT id, organization_id, name, description, remarks, external_id, created_at, \
         modified_at FROM user_groups WHERE 1=1",
    );
    if let Some(org) = q.org {
        let p = sql.bind(Param::I64(org.0));
        sql.push(&format!(" AND organization_id = {p}"));
    }
    if let Some(m) = q.member {
        let p = sql.bind(Param::I64(m.0));
        sql.push(&format!(
            " AND id IN (SELECT group_id FROM user_group_members WHERE user_id = {p})"
        ));
    }
    match &q.search {
        Some(s) if matches_nothing(s) => sql.push(" AND 1=0"),
        Some(s) => {
            let p = sql.bind(Param::Text(format!("%{}%", like_escape(&s.to_lowercase()))));
            sql.push(&format!(
                " AND (lower(name) LIKE {p} ESCAPE '\\' OR lower(description) LIKE {p} ESCAPE '\\')"
            ));
        }
        None => {}
    }
    let dir = match q.direction {
        Direction::Asc => "ASC",
        Direction::Desc => "DESC",
    };
    sql.push(&format!(" ORDER BY name {dir}, id {dir}"));
    let limit = sql.bind(Param::I64(q.limit.min(i64::MAX as u64) as i64));
    let offset = sql.bind(Param::I64(q.offset.min(i64::MAX as u64) as i64));
    sql.push(&format!(" LIMIT {limit} OFFSET {offset}"));
    sql
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_phrases_and_the_probe() {
        assert_eq!(search_phrase("ab"), None);
        assert_eq!(search_phrase("ééé").as_deref(), Some("\"ééé\""));
        assert_eq!(search_phrase("a\"b").as_deref(), Some("\"a\"\"b\""));
        // FTS5 reads its query up to a NUL; such a term matches nobody and never gets there.
        assert_eq!(search_phrase("a\0b"), None);
        let f = UserFilter::Org(OrgId(1))
            .and(UserFilter::State(usher_core::model::UserState::Active))
            .and(UserFilter::Search("anna".into()));
        assert_eq!(required_search(&f), Some("anna"));
        let either = UserFilter::Or(vec![UserFilter::Search("anna".into()), UserFilter::All]);
        assert_eq!(required_search(&either), None);
        assert!(SEARCH_PROBE.contains(&format!("LIMIT {SEARCH_INDEX_MAX})")));
        let q = UserQuery {
            filter: f,
            sort: UserSort::LastName,
            direction: Direction::Asc,
            then_by: Vec::new(),
            offset: 0,
            limit: 10,
        };
        let s = users_query(Dialect::Sqlite, &q, Some("\"anna\""));
        assert!(
            s.text.contains(
                "MATCH ?1 UNION SELECT id FROM users_search_dirty) AS s CROSS JOIN users"
            ),
            "{}",
            s.text
        );
        assert_eq!(s.params[0], Param::Text("\"anna\"".into()));
        let p = users_query(Dialect::Postgres, &q, None);
        assert!(
            p.text.contains(&format!("{SEARCH_DOC_PG} LIKE $")),
            "{}",
            p.text
        );
    }
    use usher_core::types::*;

    #[test]
    fn placeholders_follow_the_dialect() {
        let q = UserQuery {
            filter: UserFilter::And(vec![
                UserFilter::Org(OrgId(1)),
                UserFilter::Search("a_b".into()),
            ]),
            sort: UserSort::FirstName,
            direction: Direction::Desc,
            then_by: Vec::new(),
            offset: 10,
            limit: 5,
        };
        let s = users_query(Dialect::Sqlite, &q, None);
        assert!(s.text.contains("organization_id = ?1"), "{}", s.text);
        assert!(s.text.contains("LIKE ?2"));
        assert!(
            s.text
                .ends_with("ORDER BY first_name DESC NULLS LAST, id DESC LIMIT ?3 OFFSET ?4")
        );
        assert_eq!(s.params[1], Param::Text("%a\\_b%".into()));
        let p = users_query(Dialect::Postgres, &q, None);
        assert!(p.text.contains("organization_id = $1"));
        assert!(p.text.ends_with("LIMIT $3 OFFSET $4"));
    }

    #[test]
    fn several_sort_keys_in_turn() {
        let mut q = UserQuery {
            filter: UserFilter::All,
            sort: UserSort::FirstName,
            direction: Direction::Asc,
            then_by: vec![
                (UserSort::LastName, Direction::Desc),
                (UserSort::Id, Direction::Asc),
                (UserSort::Email, Direction::Asc),
            ],
            offset: 0,
            limit: 5,
        };
        let s = users_query(Dialect::Sqlite, &q, None);
        assert!(
            s.text.ends_with(
                " ORDER BY first_name ASC NULLS LAST, last_name DESC NULLS LAST, id ASC \
                 LIMIT ?1 OFFSET ?2"
            ),
            "{}",
            s.text
        );
        q.then_by = vec![(UserSort::Email, Direction::Asc)];
        q.direction = Direction::Desc;
        let s = users_query(Dialect::Postgres, &q, None);
        assert!(
            s.text.ends_with(
                " ORDER BY first_name DESC NULLS LAST, email_lower ASC NULLS LAST, id DESC \
                 LIMIT $1 OFFSET $2"
            ),
            "{}",
            s.text
        );
        q.sort = UserSort::Id;
        let s = users_query(Dialect::Sqlite, &q, None);
        assert!(
            s.text.ends_with(" ORDER BY id DESC LIMIT ?1 OFFSET ?2"),
            "{}",
            s.text
        );
    }

    #[test]
    fn empty_lists_match_nothing() {
        let mut s = Sql::new(Dialect::Sqlite);
        user_filter(&mut s, &UserFilter::Ids(vec![]));
        assert_eq!(s.text, "1=0");
        let mut s = Sql::new(Dialect::Sqlite);
        user_filter(&mut s, &UserFilter::Or(vec![]));
        assert_eq!(s.text, "1=0");
    }
}

#[cfg(test)]
mod column_tests {
    use super::*;

    #[test]
    fn user_column_count_is_right() {
        assert_eq!(USER_COLUMNS.split(", ").count(), USER_COLUMN_COUNT);
        assert!(USER_WITH_INVITATION.contains("i.url_template FROM users u LEFT JOIN"));
    }
}
