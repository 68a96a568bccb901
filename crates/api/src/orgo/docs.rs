//! API Platform's discovery documents: the entrypoint `/api`, the JSON-LD contexts, the Hydra
//! `ApiDocumentation` at `/api/docs.jsonld`, and OpenAPI at `/api/docs.json`.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::{Format, OrgoError, OrgoPath, negotiate, respond};
use crate::AppState;

/// A property of a documented class.
pub struct Property {
    pub name: &'static str,
    /// An XSD type (`xmls:string` …), `hydra:Collection`, or another class (`#UserApiToken`).
    pub range: &'static str,
    pub readable: bool,
    pub writeable: bool,
    pub required: bool,
    /// The value is an IRI (a link), not a literal.
    pub link: bool,
    pub description: &'static str,
}

const fn prop(
    name: &'static str,
    range: &'static str,
    writeable: bool,
    description: &'static str,
) -> Property {
    Property {
        name,
        range,
        readable: true,
        writeable,
        required: false,
        link: false,
        description,
    }
}

/// The User resource's properties, in seed 004's order.
pub const USER_PROPERTIES: &[Property] = &[
    prop("id", "xmls:integer", false, "The user's identifier."),
    prop("firstName", "xmls:string", true, "Given name."),
    prop("lastName", "xmls:string", true, "Family name."),
    Property {
        required: true,
        ..prop(
            "email",
            "xmls:string",
            true,
            "Email address (an admin's change is immediate).",
        )
    },
    prop(
        "newEmailRequested",
        "xmls:string",
        false,
        "An email address waiting for confirmation (see new-email).",
    ),
    prop("isGuest", "xmls:boolean", true, "A guest member."),
    prop(
        "resignPending",
        "xmls:integer",
        false,
        "A pending resignation.",
    ),
    prop(
        "resignApproved",
        "xmls:integer",
        false,
        "An approved resignation.",
    ),
    prop("dateBirth", "xmls:dateTime", true, "Date of birth."),
    prop(
        "age",
        "xmls:integer",
        false,
        "Age in whole years, from dateBirth.",
    ),
    prop("fullName", "xmls:string", false, "Given and family name."),
    prop(
        "roles",
        "xmls:string",
        true,
        "Roles; ROLE_ADMIN_TENANT for an organization admin.",
    ),
    prop(
        "customFieldValues",
        "hydra:Collection",
        false,
        "Custom field values.",
    ),
    prop("logo", "xmls:string", true, "Picture URL."),
    prop("phoneNumber", "xmls:string", true, "Phone number (E.164)."),
    prop(
        "isFollowGeneralUnit",
        "xmls:boolean",
        true,
        "Follows the general unit.",
    ),
    prop("roleGroups", "xmls:string", true, "Role groups."),
    prop("isSupporter", "xmls:boolean", true, "A supporter."),
    prop(
        "hasDigestDaily",
        "xmls:boolean",
        true,
        "Receives the daily digest.",
    ),
    Property {
        link: true,
        ..prop("identity", "#Identity", false, "Identity document.")
    },
    Property {
        link: true,
        ..prop("adhesion", "#Adhesion", false, "Membership.")
    },
    prop("postalCode", "xmls:string", true, "Postal code."),
    prop("address", "xmls:string", true, "Postal address."),
    prop(
        "phoneLocalNumber",
        "xmls:string",
        true,
        "Phone number in local form.",
    ),
    prop(
        "pushNotificationTokens",
        "hydra:Collection",
        false,
        "Push notification tokens.",
    ),
    prop("permissions", "xmls:string", false, "Permissions."),
    prop(
        "customPermissions",
        "xmls:string",
        false,
        "Custom permissions.",
    ),
    prop(
        "privacy",
        "xmls:string",
        true,
        "Privacy settings (an object).",
    ),
    prop(
        "notificationSettings",
        "xmls:string",
        true,
        "Notification settings (an object).",
    ),
    prop(
        "professionOrganisation",
        "xmls:string",
        true,
        "Professional organisation.",
    ),
    prop(
        "professionOrganisationRole",
        "xmls:string",
        true,
        "Role in the professional organisation.",
    ),
    prop(
        "hasDigestWeekly",
        "xmls:boolean",
        true,
        "Receives the weekly digest.",
    ),
    prop(
        "companyIdentifier",
        "xmls:string",
        true,
        "Company identifier.",
    ),
    prop("companyName", "xmls:string", true, "Company name."),
    prop("companyAddress", "xmls:string", true, "Company address."),
    prop(
        "companyRegNo",
        "xmls:string",
        true,
        "Company registration number.",
    ),
    prop(
        "mfaEnabled",
        "xmls:boolean",
        false,
        "Multi-factor authentication is enabled.",
    ),
];

/// The UserApiToken resource's properties.
pub const TOKEN_PROPERTIES: &[Property] = &[
    prop("id", "xmls:integer", false, "The token's identifier."),
    Property {
        required: true,
        ..prop("name", "xmls:string", true, "A name for the token.")
    },
    prop(
        "expiresAt",
        "xmls:dateTime",
        true,
        "When the token stops working.",
    ),
    prop(
        "lastUsedAt",
        "xmls:dateTime",
        false,
        "When it was last used (roughly).",
    ),
    prop(
        "isActive",
        "xmls:boolean",
        false,
        "Not revoked and not expired.",
    ),
    prop(
        "isReadOnly",
        "xmls:boolean",
        true,
        "The token may only read.",
    ),
    prop("dateCreated", "xmls:dateTime", false, "When it was made."),
    prop(
        "token",
        "xmls:string",
        false,
        "The secret; only in the answer that creates it.",
    ),
];

fn vocab(state: &AppState) -> String {
    format!("{}/api/docs.jsonld#", state.services.config().public_url)
}

fn ld(value: &Value) -> Response {
    respond(Format::JsonLd, StatusCode::OK, value)
}

/// `GET /api` (and `/api/`): the entrypoint.
pub async fn entrypoint(headers: HeaderMap) -> Result<Response, OrgoError> {
    let format = negotiate(&headers)?;
    let body = json!({
        "@context": "/api/contexts/Entrypoint",
        "@id": "/api",
        "@type": "Entrypoint",
        "user": "/api/v1/users",
    });
    Ok(match format {
        Format::JsonLd => ld(&body),
        Format::Json => respond(format, StatusCode::OK, &json!({"user": "/api/v1/users"})),
    })
}

fn context_of(state: &AppState, class: &str, props: &[Property]) -> Value {
    let mut ctx = Map::new();
    ctx.insert("@vocab".into(), Value::String(vocab(state)));
    ctx.insert(
        "hydra".into(),
        Value::String("http://www.w3.org/ns/hydra/core#".into()),
    );
    for p in props {
        let term = format!("{class}/{}", p.name);
        let value = if p.link {
            json!({"@id": term, "@type": "@id"})
        } else {
            Value::String(term)
        };
        ctx.insert(p.name.into(), value);
    }
    json!({ "@context": Value::Object(ctx) })
}

/// `GET /api/contexts/{User|UserApiToken|Entrypoint}`.
pub async fn context(
    State(state): State<AppState>,
    OrgoPath(name): OrgoPath<String>,
) -> Result<Response, OrgoError> {
    let body = match name.as_str() {
        "User" => context_of(&state, "User", USER_PROPERTIES),
        "UserApiToken" => context_of(&state, "UserApiToken", TOKEN_PROPERTIES),
        "Entrypoint" => json!({
            "@context": {
                "@vocab": vocab(&state),
                "hydra": "http://www.w3.org/ns/hydra/core#",
                "user": {"@id": "Entrypoint/user", "@type": "@id"},
            }
        }),
        _ => return Err(OrgoError::not_found()),
    };
    Ok(ld(&body))
}

fn supported_property(class: &str, p: &Property) -> Value {
    json!({
        "@type": "hydra:SupportedProperty",
        "hydra:property": {
            "@id": format!("#{class}/{}", p.name),
            "@type": if p.link { "hydra:Link" } else { "rdf:Property" },
            "rdfs:label": p.name,
            "domain": format!("#{class}"),
            "range": p.range,
        },
        "hydra:title": p.name,
        "hydra:description": p.description,
        "hydra:required": p.required,
        "hydra:readable": p.readable,
        "hydra:writeable": p.writeable,
    })
}

fn operation(method: &str, title: &str, expects: Option<&str>, returns: &str, kind: &str) -> Value {
    let mut op = json!({
        "@type": ["hydra:Operation", kind],
        "hydra:method": method,
        "hydra:title": title,
        "rdfs:label": title,
        "returns": returns,
    });
    if let Some(e) = expects {
        op["expects"] = Value::String(e.into());
    }
    op
}

/// The Hydra `ApiDocumentation` of the dialect.
pub fn hydra_doc(state: &AppState) -> Value {
    let user_class = json!({
        "@id": "#User",
        "@type": "hydra:Class",
        "rdfs:label": "User",
        "hydra:title": "User",
        "hydra:description": "A person of the organization.",
        "hydra:supportedProperty": USER_PROPERTIES.iter().map(|p| supported_property("User", p)).collect::<Vec<_>>(),
        "hydra:supportedOperation": [
            operation("GET", "Retrieves a User resource.", None, "#User", "schema:FindAction"),
            operation("PATCH", "Updates the User resource.", Some("#User"), "#User", "schema:ReplaceAction"),
            operation("DELETE", "Deletes the User resource.", None, "owl:Nothing", "schema:DeleteAction"),
            operation("PATCH", "Changes the email address of the User resource.", Some("#User"), "#User", "schema:ReplaceAction"),
            operation("PATCH", "Changes the password of the User resource.", Some("#User"), "#User", "schema:ReplaceAction"),
        ],
    });
    let token_class = json!({
        "@id": "#UserApiToken",
        "@type": "hydra:Class",
        "rdfs:label": "UserApiToken",
        "hydra:title": "UserApiToken",
        "hydra:description": "An API token a user made for itself (header Api-Token).",
        "hydra:supportedProperty": TOKEN_PROPERTIES.iter().map(|p| supported_property("UserApiToken", p)).collect::<Vec<_>>(),
        "hydra:supportedOperation": [
            operation("GET", "Retrieves a UserApiToken resource.", None, "#UserApiToken", "schema:FindAction"),
            operation("PATCH", "Revokes the UserApiToken resource.", Some("owl:Nothing"), "#UserApiToken", "schema:ReplaceAction"),
            operation("DELETE", "Deletes the UserApiToken resource.", None, "owl:Nothing", "schema:DeleteAction"),
        ],
    });
    let collection_link = |name: &str, class: &str, label: &str| {
        json!({
            "@type": "hydra:SupportedProperty",
            "hydra:property": {
                "@id": format!("#Entrypoint/{name}"),
                "@type": "hydra:Link",
                "domain": "#Entrypoint",
                "rdfs:label": label,
                "rdfs:range": [{"@id": "hydra:Collection"}, {"owl:equivalentClass": {"owl:onProperty": {"@id": "hydra:member"}, "owl:allValuesFrom": {"@id": format!("#{class}")}}}],
                "hydra:supportedOperation": [
                    operation("GET", &format!("Retrieves the collection of {class} resources."), None, "hydra:Collection", "schema:FindAction"),
                    operation("POST", &format!("Creates a {class} resource."), Some(&format!("#{class}")), &format!("#{class}"), "schema:CreateAction"),
                ],
            },
            "hydra:title": label,
            "hydra:readable": true,
            "hydra:writeable": false,
        })
    };
    let entrypoint = json!({
        "@id": "#Entrypoint",
        "@type": "hydra:Class",
        "hydra:title": "The API entrypoint",
        "hydra:supportedProperty": [collection_link("user", "User", "The collection of User resources")],
        "hydra:supportedOperation": {
            "@type": "hydra:Operation",
            "hydra:method": "GET",
            "hydra:title": "The API entrypoint.",
            "rdfs:label": "The API entrypoint.",
            "returns": "#Entrypoint",
        },
    });
    // The classes of the embedded `identity` and `adhesion` members (their ranges), which usher
    // keeps no data for: documented so that every range names a class of the documentation.
    let embedded = |class: &str, description: &str| {
        json!({
            "@id": format!("#{class}"),
            "@type": "hydra:Class",
            "rdfs:label": class,
            "hydra:title": class,
            "hydra:description": description,
            "hydra:supportedProperty": [],
            "hydra:supportedOperation": [],
        })
    };
    let identity = embedded(
        "Identity",
        "An identity document (usher keeps none: always null).",
    );
    let adhesion = embedded("Adhesion", "A membership (usher keeps none: always null).");
    let violation = json!({
        "@id": "#ConstraintViolation",
        "@type": "hydra:Class",
        "hydra:title": "A constraint violation",
        "hydra:supportedProperty": [
            {"@type": "hydra:SupportedProperty", "hydra:property": {"@id": "#ConstraintViolation/propertyPath", "@type": "rdf:Property", "rdfs:label": "propertyPath", "domain": "#ConstraintViolation", "range": "xmls:string"}, "hydra:title": "propertyPath", "hydra:description": "The property path of the violation", "hydra:readable": true, "hydra:writeable": false},
            {"@type": "hydra:SupportedProperty", "hydra:property": {"@id": "#ConstraintViolation/message", "@type": "rdf:Property", "rdfs:label": "message", "domain": "#ConstraintViolation", "range": "xmls:string"}, "hydra:title": "message", "hydra:description": "The message associated with the violation", "hydra:readable": true, "hydra:writeable": false},
        ],
    });
    let violation_list = json!({
        "@id": "#ConstraintViolationList",
        "@type": "hydra:Class",
        "subClassOf": "hydra:Error",
        "hydra:title": "A constraint violation list",
        "hydra:supportedProperty": [
            {"@type": "hydra:SupportedProperty", "hydra:property": {"@id": "#ConstraintViolationList/violations", "@type": "rdf:Property", "rdfs:label": "violations", "domain": "#ConstraintViolationList", "range": "#ConstraintViolation"}, "hydra:title": "violations", "hydra:description": "The violations", "hydra:readable": true, "hydra:writeable": false},
        ],
    });
    json!({
        "@context": {
            "@vocab": vocab(state),
            "hydra": "http://www.w3.org/ns/hydra/core#",
            "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
            "rdfs": "http://www.w3.org/2000/01/rdf-schema#",
            "xmls": "http://www.w3.org/2001/XMLSchema#",
            "owl": "http://www.w3.org/2002/07/owl#",
            "schema": "https://schema.org/",
            "domain": {"@id": "rdfs:domain", "@type": "@id"},
            "range": {"@id": "rdfs:range", "@type": "@id"},
            "subClassOf": {"@id": "rdfs:subClassOf", "@type": "@id"},
            "expects": {"@id": "hydra:expects", "@type": "@id"},
            "returns": {"@id": "hydra:returns", "@type": "@id"},
        },
        "@id": "/api/docs.jsonld",
        "@type": "hydra:ApiDocumentation",
        "hydra:title": "usher",
        "hydra:description": "Users of the organization, in API Platform's conventions.",
        "hydra:entrypoint": "/api",
        "hydra:supportedClass": [user_class, token_class, identity, adhesion, entrypoint, violation, violation_list],
    })
}

/// `GET /api/docs.jsonld`.
pub async fn hydra_documentation(State(state): State<AppState>) -> Response {
    ld(&hydra_doc(&state))
}

/// `GET /api/docs.json`: the OpenAPI document of every REST route usher serves.
pub async fn openapi(State(state): State<AppState>) -> Response {
    let mut res = axum::Json(crate::openapi::document(
        &state.services.config().public_url,
    ))
    .into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/vnd.openapi+json; charset=utf-8"),
    );
    res
}

/// `GET /api/docs`: OpenAPI with `Accept: application/vnd.openapi+json` (or `application/json`),
/// else the Hydra documentation.
pub async fn docs(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if accept.contains("application/vnd.openapi+json") {
        openapi(State(state)).await
    } else {
        hydra_documentation(State(state)).await
    }
}
