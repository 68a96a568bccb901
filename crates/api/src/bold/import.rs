//! `PUT /v2/users?organizationId=n`: bulk import from a CSV file in a multipart upload.
//!
//! The file is read as a stream and committed in batches, so an upload of any size is never held
//! in memory. The answer is 200 with the array of row problems (empty when every row was fine),
//! in the documented shape `[{"message": "Invalid email address charlie-example.com"}]`, plus the
//! row's line number.

use axum::Json;
use axum::body::Bytes;
use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, State};
use axum::http::StatusCode;
use csv_async::{AsyncReader, AsyncReaderBuilder, StringRecord, Terminator, Trim};
use futures::{StreamExt, TryStreamExt, stream};
use serde::{Deserialize, Serialize};
use tokio_util::io::StreamReader;
use usher_core::error::{Conflict, Error};
use usher_core::password::check_importable;
use usher_core::service::{ImportOutcome, ImportRow, RowError};
use usher_core::types::{self, Email, OrgId, Phone};

use super::error::{BoldError, field_name};
use super::extract::{Auth, BoldQuery};
use super::wire::{LONG_MAX, NAME_MAX, TEXT_MAX};
use crate::AppState;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub(crate) struct ImportParams {
    /// The organization the rows belong to (default: the caller's).
    organization_id: Option<i64>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct RowProblem {
    pub(crate) message: String,
    pub(crate) row: u64,
    #[serde(rename = "userId", skip_serializing_if = "Option::is_none")]
    user_id: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Column {
    FirstName,
    LastName,
    EmailAddress,
    PhoneNumber,
    ExternalId,
    Description,
    Remarks,
    SuperUser,
    PasswordHash,
}

fn column(name: &str) -> Option<Column> {
    Some(match name {
        "firstName" => Column::FirstName,
        "lastName" => Column::LastName,
        "emailAddress" => Column::EmailAddress,
        "phoneNumber" => Column::PhoneNumber,
        "externalId" => Column::ExternalId,
        "description" => Column::Description,
        "remarks" => Column::Remarks,
        "superUser" => Column::SuperUser,
        "passwordHash" => Column::PasswordHash,
        _ => return None,
    })
}

fn parse_bool(s: &str) -> Option<bool> {
    match s.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Some(true),
        "false" | "0" | "no" => Some(false),
        _ => None,
    }
}

/// One CSV record to an import row, or the messages of its bad cells.
fn parse_row(
    cols: &[Column],
    rec: &StringRecord,
    line: u64,
) -> Result<Option<ImportRow>, Vec<String>> {
    let mut row = ImportRow {
        line,
        ..ImportRow::default()
    };
    let mut errors = Vec::new();
    let mut any = false;
    for (col, cell) in cols.iter().zip(rec.iter()) {
        let cell = cell.trim();
        if cell.is_empty() {
            continue;
        }
        any = true;
        let text = |max: usize, errors: &mut Vec<String>, name: &str| match types::text(cell, max) {
            Ok(t) => Some(t),
            Err(e) => {
                errors.push(format!("{} {name}", e.message));
                None
            }
        };
        match col {
            Column::FirstName => row.first_name = text(NAME_MAX, &mut errors, "firstName"),
            Column::LastName => row.last_name = text(NAME_MAX, &mut errors, "lastName"),
            Column::ExternalId => row.external_id = text(TEXT_MAX, &mut errors, "externalId"),
            Column::Description => row.description = text(LONG_MAX, &mut errors, "description"),
            Column::Remarks => row.remarks = text(LONG_MAX, &mut errors, "remarks"),
            Column::EmailAddress => match Email::parse(cell) {
                Ok(e) => row.email = Some(e),
                Err(e) => errors.push(e.message),
            },
            Column::PhoneNumber => match Phone::parse_e164(cell) {
                Ok(p) => row.phone = Some(p),
                Err(e) => errors.push(e.message),
            },
            Column::SuperUser => match parse_bool(cell) {
                Some(b) => row.super_user = Some(b),
                None => errors.push(format!("Invalid boolean {cell} superUser")),
            },
            Column::PasswordHash => match check_importable(cell) {
                Ok(_) => row.password_hash = Some(cell.to_owned()),
                Err(e) => errors.push(format!("{}: passwordHash", e.message())),
            },
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(any.then_some(row))
}

fn problems(e: RowError) -> Vec<RowProblem> {
    let line = e.line;
    let one = |message: String, user_id: Option<i64>| {
        vec![RowProblem {
            message,
            row: line,
            user_id,
        }]
    };
    match e.error {
        Error::Invalid(fields) => fields
            .into_iter()
            .map(|f| RowProblem {
                message: format!("{}: {}", f.message, field_name(&f.field)),
                row: line,
                user_id: None,
            })
            .collect(),
        Error::AlreadyExists { what, existing } => {
            let message = match what {
                Conflict::Username => "Username already taken",
                _ => "User or user-invite already exists",
            };
            one(message.to_owned(), existing)
        }
        Error::FailedPrecondition { message, .. } => one(message, None),
        other => one(BoldError::from(other).message, None),
    }
}

fn read_error(e: &csv_async::Error) -> Option<BoldError> {
    // An I/O error means the upload itself broke (too large, cut off); a CSV error is one bad row.
    match e.kind() {
        csv_async::ErrorKind::Io(io) => {
            let too_large = io.to_string().to_ascii_lowercase().contains("length limit");
            Some(if too_large {
                BoldError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "PayloadTooLarge",
                    "Upload too large",
                )
            } else {
                BoldError::invalid("Could not read the uploaded file")
            })
        }
        _ => None,
    }
}

/// CRLF and a lone CR to LF, across chunk boundaries (`after_cr`: the last byte seen was a CR).
fn lf_only(chunk: Bytes, after_cr: &mut bool) -> Bytes {
    if !*after_cr && !chunk.contains(&b'\r') {
        return chunk;
    }
    let mut out = Vec::with_capacity(chunk.len());
    for &b in chunk.iter() {
        match b {
            b'\r' => {
                out.push(b'\n');
                *after_cr = true;
            }
            b'\n' if *after_cr => *after_cr = false,
            _ => {
                out.push(b);
                *after_cr = false;
            }
        }
    }
    Bytes::from(out)
}

/// The upload as a CSV reader.
///
/// Row numbers are the file's lines. csv-core notes a record's position before it skips blank
/// lines and the `\n` of a CRLF, so the line is counted back from the end of the record
/// instead: line endings become `\n`, and a final `\n` is appended so that every record, the
/// last one too, ends with one.
pub(super) fn csv_reader<S, E>(
    chunks: S,
) -> AsyncReader<impl tokio::io::AsyncRead + Unpin + Send + use<S, E>>
where
    S: futures::Stream<Item = Result<Bytes, E>> + Unpin + Send,
    E: std::error::Error + Send + Sync + 'static,
{
    let mut after_cr = false;
    let bytes = chunks
        .map_ok(move |chunk| lf_only(chunk, &mut after_cr))
        .map_err(std::io::Error::other)
        .chain(stream::iter([Ok(Bytes::from_static(b"\n"))]));
    AsyncReaderBuilder::new()
        .flexible(true)
        .trim(Trim::None)
        .terminator(Terminator::Any(b'\n'))
        .create_reader(StreamReader::new(bytes))
}

/// The header row to columns; an unknown or missing header is a 400.
pub(super) async fn read_columns<R: tokio::io::AsyncRead + Unpin + Send>(
    csv: &mut AsyncReader<R>,
) -> Result<Vec<Column>, BoldError> {
    let header = match csv.headers().await {
        Ok(h) => h.clone(),
        Err(e) => {
            return Err(
                read_error(&e).unwrap_or_else(|| BoldError::invalid("Invalid CSV header row"))
            );
        }
    };
    let mut cols = Vec::with_capacity(header.len());
    for name in header.iter() {
        let name = name.trim();
        match column(name) {
            Some(c) => cols.push(c),
            None => return Err(BoldError::invalid(format!("Unknown column: {name}"))),
        }
    }
    if cols.is_empty() {
        return Err(BoldError::invalid("The CSV file has no header row"));
    }
    Ok(cols)
}

/// The next record: `None` at the end; a row (`None` for a blank one) or the row's problems; an
/// error when the upload itself broke.
pub(super) async fn next_row<R: tokio::io::AsyncRead + Unpin + Send>(
    csv: &mut AsyncReader<R>,
    cols: &[Column],
    rec: &mut StringRecord,
) -> Result<Option<Result<Option<ImportRow>, Vec<RowProblem>>>, BoldError> {
    let read = csv.read_record(rec).await;
    // The line after the record's terminating `\n`, less that `\n` and those inside cells.
    let end_line = csv.position().line().saturating_sub(1);
    match read {
        Ok(false) => Ok(None),
        Ok(true) => {
            let inner = rec.as_slice().bytes().filter(|b| *b == b'\n').count() as u64;
            let line = end_line.saturating_sub(inner);
            Ok(Some(parse_row(cols, rec, line).map_err(|msgs| {
                msgs.into_iter()
                    .map(|message| RowProblem {
                        message,
                        row: line,
                        user_id: None,
                    })
                    .collect()
            })))
        }
        Err(e) => {
            if let Some(fatal) = read_error(&e) {
                return Err(fatal);
            }
            Ok(Some(Err(vec![RowProblem {
                message: format!("Invalid CSV row: {e}"),
                row: end_line,
                user_id: None,
            }])))
        }
    }
}

/// `PUT /v2/users?organizationId=n` with a multipart CSV file → 200 `[row problems]`.
pub(super) async fn import(
    State(state): State<AppState>,
    Auth(p): Auth,
    BoldQuery(q): BoldQuery<ImportParams>,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Json<Vec<RowProblem>>, BoldError> {
    let mut multipart = multipart.map_err(|_| {
        BoldError::invalid("A multipart/form-data body with one CSV file is expected")
    })?;
    let org = state
        .services
        .authorize_import(&p, q.organization_id.map(OrgId))
        .await?;
    let field = loop {
        match multipart.next_field().await {
            Ok(Some(f)) if f.file_name().is_some() || f.name() == Some("file") => break f,
            Ok(Some(_)) => continue,
            Ok(None) => {
                return Err(BoldError::invalid(
                    "Missing value: file (a CSV file is expected)",
                ));
            }
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                return Err(BoldError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "PayloadTooLarge",
                    "Upload too large",
                ));
            }
            Err(_) => return Err(BoldError::invalid("Invalid multipart body")),
        }
    };
    let mut csv = csv_reader(field);
    let cols = read_columns(&mut csv).await?;

    let batch_size = state.limits.import_batch.max(1);
    let mut outcome = ImportOutcome::default();
    let mut out: Vec<RowProblem> = Vec::new();
    let mut batch = Vec::with_capacity(batch_size);
    let mut rec = StringRecord::new();
    while let Some(read) = next_row(&mut csv, &cols, &mut rec).await? {
        match read {
            Ok(Some(row)) => batch.push(row),
            Ok(None) => {}
            Err(problems) => out.extend(problems),
        }
        if batch.len() >= batch_size {
            state
                .services
                .import_batch(&p, org, std::mem::take(&mut batch), &mut outcome)
                .await?;
        }
    }
    state
        .services
        .import_batch(&p, org, batch, &mut outcome)
        .await?;
    for e in std::mem::take(&mut outcome.errors) {
        out.extend(problems(e));
    }
    out.sort_by_key(|p| p.row);
    tracing::info!(
        created = outcome.created,
        updated = outcome.updated,
        problems = out.len(),
        "bulk import"
    );
    Ok(Json(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_endings_become_lf_across_chunks() {
        let mut cr = false;
        let a = lf_only(Bytes::from_static(b"a\r\nb\rc\r"), &mut cr);
        assert!(cr);
        let b = lf_only(Bytes::from_static(b"\nd\r\r\ne"), &mut cr);
        assert!(!cr);
        assert_eq!([a, b].concat(), b"a\nb\nc\nd\n\ne");
        let plain = Bytes::from_static(b"x\ny\n");
        assert_eq!(lf_only(plain.clone(), &mut cr), plain);
    }

    #[test]
    fn rows_parse_and_report_each_bad_cell() {
        let cols = [
            Column::FirstName,
            Column::EmailAddress,
            Column::PhoneNumber,
            Column::SuperUser,
        ];
        let rec = StringRecord::from(vec!["Ann", "ann@example.com", "+31850607337", "yes"]);
        let row = parse_row(&cols, &rec, 2).unwrap().unwrap();
        assert_eq!(row.first_name.as_deref(), Some("Ann"));
        assert_eq!(row.super_user, Some(true));
        let rec = StringRecord::from(vec!["Charlie", "charlie-example.com", "123", "maybe"]);
        let errs = parse_row(&cols, &rec, 3).unwrap_err();
        assert_eq!(errs[0], "Invalid email address charlie-example.com");
        assert_eq!(errs.len(), 3);
        let rec = StringRecord::from(vec!["", "", "", ""]);
        assert!(parse_row(&cols, &rec, 4).unwrap().is_none());
    }
}
