//! Entry points for the fuzz targets in `fuzz/` (not an API): what a Bold request body and a
//! bulk-import upload go through before any service call.

use axum::body::Bytes;
use csv_async::StringRecord;
use serde::de::DeserializeOwned;
use usher_core::service::ImportRow;

use super::error::BoldError;
use super::extract::{first_byte, parse};
use super::groups::{GroupBody, MemberBody};
use super::orgs::{KeyBody, OrgBody};
use super::verify::CodeBody;
use super::wire::{CreateUserBody, UpdateInvitationBody, UpdateUserBody};
use super::{groups, import, users};

/// The JSON bodies, in the order [`body`] takes them.
pub const BODIES: &[&str] = &[
    "POST /v2/users",
    "PUT /v2/users/{id}",
    "PUT /v2/users/{id}/invitation",
    "POST|PUT /v1/user-groups",
    "POST /v1/user-groups/{id}/users (object)",
    "POST|DELETE /v1/user-groups/{id}/users (array)",
    "POST /v1/organizations",
    "POST /v1/api-keys",
    "POST /v1/users/{id}/email|phone/verify",
];

fn object<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, BoldError> {
    match first_byte(bytes) {
        Some(b'{') => parse(bytes),
        _ => Err(BoldError::invalid("The body must be a JSON object")),
    }
}

/// Body number `which` (modulo [`BODIES`]) as its handler reads it: the JSON check, the typed
/// parse, and the translation into the core input where that is a function of the body alone.
pub fn body(which: usize, bytes: &[u8]) -> Result<(), BoldError> {
    match which % BODIES.len() {
        0 => users::new_user(object::<CreateUserBody>(bytes)?, None).map(drop),
        1 => users::user_patch(object::<UpdateUserBody>(bytes)?, None).map(drop),
        2 => users::invitation_update(object::<UpdateInvitationBody>(bytes)?).map(drop),
        3 => groups::draft(object::<GroupBody>(bytes)?).map(drop),
        4 => object::<MemberBody>(bytes).map(drop),
        5 => match first_byte(bytes) {
            Some(b'[') => parse::<Vec<MemberBody>>(bytes).map(drop),
            _ => Err(BoldError::invalid("The body must be a JSON array")),
        },
        6 => object::<OrgBody>(bytes).map(drop),
        7 => object::<KeyBody>(bytes).map(drop),
        _ => object::<CodeBody>(bytes).map(drop),
    }
}

/// What an import upload read as: each record's line with its row (`None` for a blank one) or
/// its problem messages.
pub type ImportLines = Vec<(u64, Result<Option<ImportRow>, Vec<String>>)>;

/// An upload arriving in `chunks`, read as the import handler reads it (line endings, header,
/// rows, row numbers), without the store.
pub fn csv_import(chunks: Vec<Vec<u8>>) -> Result<ImportLines, BoldError> {
    let stream = futures::stream::iter(
        chunks
            .into_iter()
            .map(|c| Ok::<_, std::io::Error>(Bytes::from(c))),
    );
    futures::executor::block_on(async move {
        let mut csv = import::csv_reader(stream);
        let cols = import::read_columns(&mut csv).await?;
        let mut rec = StringRecord::new();
        let mut out = Vec::new();
        while let Some(read) = import::next_row(&mut csv, &cols, &mut rec).await? {
            match read {
                Ok(row) => out.push((row.as_ref().map_or(0, |r| r.line), Ok(row))),
                Err(problems) => {
                    let line = problems.first().map_or(0, |p| p.row);
                    out.push((line, Err(problems.into_iter().map(|p| p.message).collect())));
                }
            }
        }
        Ok(out)
    })
}
