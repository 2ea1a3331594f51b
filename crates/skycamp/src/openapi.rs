//! The OpenAPI 3.1 document of the public API, put together from each service's part (every
//! handler carries its `#[utoipa::path]`): what the gateway serves at `/openapi.json` and `/docs`,
//! and what `skycamp openapi` prints. The internal charge (`POST /payments`) is not in it.
//!
//! Each operation's bearer requirement names the roles that may call it (OpenAPI 3.1 allows role
//! names as scopes): none, with an empty alternative, for what anyone may read; `admin`; or
//! `customer` and `admin` for a customer's own things (an admin may act for any customer).

use utoipa::openapi::link::LinkBuilder;
use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::{OpenApi, RefOr};
use utoipa::{Modify as _, OpenApi as _, PartialSchema as _, ToSchema as _};

/// The whole public API.
pub fn document() -> OpenApi {
    let mut doc = skycamp_flight::http::Api::openapi();
    for part in [
        skycamp_reservation::http::Api::openapi(),
        skycamp_campsite::http::Api::openapi(),
        skycamp_payment::http::Api::openapi(),
        skycamp_mileage::http::Api::openapi(),
        skycamp_notification::http::Api::openapi(),
        skycamp_review::http::Api::openapi(),
        skycamp_account::http::Api::openapi(),
        skycamp_platform::deadletter::Api::openapi(),
    ] {
        doc.merge(part);
    }
    doc.info = utoipa::openapi::InfoBuilder::new()
        .title("Skycamp")
        .version(env!("CARGO_PKG_VERSION"))
        .description(Some(
            "Flight and campsite reservations. Every error is an RFC 9457 problem document. \
             Lists are paged with `limit` and `cursor` (follow `Link: rel=\"next\"`). Creating POSTs \
             honour `Idempotency-Key`. Who may call what: docs/SECURITY.md.",
        ))
        .license(Some(utoipa::openapi::LicenseBuilder::new().name("MIT OR Apache-2.0").build()))
        .build();
    let components = doc.components.get_or_insert_with(Default::default);
    components
        .schemas
        .insert(skycamp_platform::openapi::Problem::name().into_owned(), skycamp_platform::openapi::Problem::schema());
    skycamp_platform::openapi::Conventions.modify(&mut doc);
    name_operations(&mut doc);
    link_created_resources(&mut doc);
    doc
}

/// The HTTP methods an operation can have here, with their fields.
fn operations_of(item: &mut PathItem) -> [(&'static str, &mut Option<Operation>); 5] {
    [
        ("get", &mut item.get),
        ("post", &mut item.post),
        ("put", &mut item.put),
        ("patch", &mut item.patch),
        ("delete", &mut item.delete),
    ]
}

/// Gives every operation a unique id from its method and path (`GET /flights/{id}` is
/// `getFlightsById`): the handlers' names (`list`, `one`) repeat across services.
fn name_operations(doc: &mut OpenApi) {
    for (path, item) in doc.paths.paths.iter_mut() {
        for (method, op) in operations_of(item) {
            if let Some(op) = op {
                op.operation_id = Some(operation_id(method, path));
            }
        }
    }
}

fn operation_id(method: &str, path: &str) -> String {
    let mut id = method.to_owned();
    for segment in path.split('/').filter(|s| !s.is_empty()) {
        let (prefix, name) = match segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            Some(param) => ("By", param),
            None => ("", segment),
        };
        id.push_str(prefix);
        for word in name.split(['_', '-', '.']).filter(|w| !w.is_empty()) {
            let mut chars = word.chars();
            id.extend(chars.next().map(|c| c.to_ascii_uppercase()));
            id.push_str(chars.as_str());
        }
    }
    id
}

/// OpenAPI links from what a `POST` creates (its 201 answer's `id`) to every operation on that
/// resource (`{path}/{id}…`), so a client, or a stateful fuzzer, can follow them.
fn link_created_resources(doc: &mut OpenApi) {
    let targets: Vec<(String, String)> = doc
        .paths
        .paths
        .iter()
        .flat_map(|(path, item)| {
            let mut item = item.clone();
            operations_of(&mut item)
                .into_iter()
                .filter(|(_, op)| op.is_some())
                .map(|(method, _)| (path.clone(), operation_id(method, path)))
                .collect::<Vec<_>>()
        })
        .collect();
    for (path, item) in doc.paths.paths.iter_mut() {
        let Some(post) = item.post.as_mut() else { continue };
        let Some(RefOr::T(created)) = post.responses.responses.get_mut("201") else { continue };
        let prefix = format!("{path}/{{id}}");
        for (_, id) in targets.iter().filter(|(target, _)| target.starts_with(&prefix)) {
            let link = LinkBuilder::new().operation_id(id.clone()).parameter("id", "$response.body#/id").build();
            created.links.insert(id.clone(), RefOr::T(link));
        }
    }
}
