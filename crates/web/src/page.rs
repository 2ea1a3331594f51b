//! What every page shares: the frame (header, navigation, language switch) and the generic pages
//! (an error, a table with row actions).

use askama::Template;
use askama_web::WebTemplate;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::Lang;
use crate::session::Visit;

/// The frame around every page.
pub struct Chrome {
    pub who: String,
    pub signed_in: bool,
    pub admin: bool,
    pub auth_off: bool,
    /// This page's path, as a query value (the language switch comes back to it).
    pub back: String,
}

impl Chrome {
    pub fn of(visit: &Visit) -> Self {
        Self {
            who: visit.who(),
            signed_in: visit.signed_in() && (!visit.auth_off() || visit.phone.is_some()),
            admin: visit.admin(),
            auth_off: visit.auth_off(),
            back: crate::api::encode(&visit.path),
        }
    }

    fn anonymous() -> Self {
        Self { who: String::new(), signed_in: false, admin: false, auth_off: false, back: "%2F".into() }
    }
}

/// An error page with the status of the problem.
#[derive(Template, WebTemplate)]
#[template(path = "error.html")]
pub struct ErrorPage {
    pub t: Lang,
    pub chrome: Chrome,
    pub title: String,
    pub status: u16,
    pub summary: &'static str,
    pub detail: String,
    pub admin_page: bool,
}

impl ErrorPage {
    /// The error page for `visit`, with its header (who is signed in, the way out).
    pub fn shown_to(visit: &Visit, status: StatusCode, detail: &str) -> Response {
        Self::page(visit.lang, Chrome::of(visit), status, detail)
    }

    /// An error page for a request that was not looked at (no one is signed in on it).
    pub fn anonymous(t: Lang, status: StatusCode, detail: &str) -> Response {
        Self::page(t, Chrome::anonymous(), status, detail)
    }

    fn page(t: Lang, chrome: Chrome, status: StatusCode, detail: &str) -> Response {
        let summary = match status.as_u16() {
            401 => t.s("error_401"),
            403 => t.s("error_403"),
            404 => t.s("error_404"),
            409 => t.s("error_409"),
            429 => t.s("error_429"),
            502..=504 => t.s("error_503"),
            _ => t.s("error"),
        };
        let page = Self {
            t,
            chrome,
            title: t.s("error").to_owned(),
            status: status.as_u16(),
            summary,
            detail: detail.to_owned(),
            admin_page: false,
        };
        (status, page).into_response()
    }
}

/// A link or a button in a table row. A button posts a form (with an idempotency key when the
/// action moves money).
pub struct Action {
    pub label: &'static str,
    pub url: String,
    pub post: bool,
    pub key: Option<String>,
    /// An accessible name that says which row the action is for.
    pub aria: String,
}

impl Action {
    pub fn link(label: &'static str, url: String, aria: String) -> Self {
        Self { label, url, post: false, key: None, aria }
    }
    pub fn post(label: &'static str, url: String, aria: String) -> Self {
        Self { label, url, post: true, key: None, aria }
    }
    pub fn keyed(label: &'static str, url: String, aria: String) -> Self {
        Self { label, url, post: true, key: Some(crate::api::new_key()), aria }
    }
}

/// One row: its cells, and its actions.
pub struct Row {
    pub cells: Vec<String>,
    pub actions: Vec<Action>,
    /// A link on the first cell.
    pub link: Option<String>,
}

/// A page that is a titled table, with notes above it and links to other pages.
#[derive(Template, WebTemplate)]
#[template(path = "table.html")]
pub struct TablePage {
    pub t: Lang,
    pub chrome: Chrome,
    pub title: String,
    pub admin_page: bool,
    pub notes: Vec<String>,
    pub links: Vec<(String, &'static str)>,
    pub sections: Vec<Section>,
}

pub struct Section {
    pub heading: String,
    pub columns: Vec<&'static str>,
    pub rows: Vec<Row>,
    /// Columns aligned right (amounts, counts).
    pub numeric: Vec<usize>,
}

impl Section {
    pub fn new(heading: impl Into<String>, columns: Vec<&'static str>) -> Self {
        Self { heading: heading.into(), columns, rows: Vec::new(), numeric: Vec::new() }
    }
    pub fn numeric(mut self, columns: &[usize]) -> Self {
        self.numeric = columns.to_vec();
        self
    }
    pub fn has_actions(&self) -> bool {
        self.rows.iter().any(|r| !r.actions.is_empty())
    }
}

impl TablePage {
    pub fn new(visit: &Visit, title: impl Into<String>) -> Self {
        Self {
            t: visit.lang,
            chrome: Chrome::of(visit),
            title: title.into(),
            admin_page: visit.path.starts_with("/admin"),
            notes: Vec::new(),
            links: Vec::new(),
            sections: Vec::new(),
        }
    }
}
