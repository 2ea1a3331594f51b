//! What every service's part of the OpenAPI document shares: the problem schema every error
//! answers with, the paging parameters, the bearer scheme, and the roles an operation needs
//! (written as the bearer requirement's scopes, which OpenAPI 3.1 allows to be role names).

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi, RefOr, ResponseBuilder};
use utoipa::{IntoParams, Modify, ToSchema};

/// An error answer (RFC 9457), `application/problem+json`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct Problem {
    /// Always `about:blank`.
    #[schema(rename = "type")]
    kind: String,
    /// The status's reason phrase.
    title: String,
    status: u16,
    /// What went wrong, for a person to read.
    detail: String,
}

/// `?limit=&cursor=`: one page of a list (see [`crate::paging`]); follow `Link: rel="next"`.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct Paging {
    /// Items on this page (at least 1; cut to the list's maximum).
    #[param(minimum = 1)]
    limit: Option<i64>,
    /// Where the page starts, as the previous page's `Link` said.
    cursor: Option<String>,
}

/// The scheme name operations refer to.
pub const BEARER: &str = "bearer";

/// Adds the bearer scheme, and a `default` problem answer to every operation that has none.
pub struct Conventions;

impl Modify for Conventions {
    fn modify(&self, openapi: &mut OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            BEARER,
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("JWT").build()),
        );
        let problem = ResponseBuilder::new()
            .description("An error, as a problem document")
            .content(
                "application/problem+json",
                ContentBuilder::new().schema(Some(utoipa::openapi::Ref::from_schema_name("Problem"))).build(),
            )
            .build();
        for item in openapi.paths.paths.values_mut() {
            for op in
                [&mut item.get, &mut item.put, &mut item.post, &mut item.delete, &mut item.patch].into_iter().flatten()
            {
                op.responses.responses.entry("default".into()).or_insert_with(|| RefOr::T(problem.clone()));
            }
        }
    }
}
