//! Forms: one template for every form page, and where an API refusal is shown.
//!
//! The API's refusals name the field they are about at the start of their `detail` ("seat cannot
//! be reduced below the 12 seats already sold", "checkOut must be after checkIn"): the message
//! is shown next to that field, marked `aria-invalid` and tied to it with `aria-describedby`;
//! one that names no field of the form is shown above it.

use askama::Template;
use askama_web::WebTemplate;

use crate::Lang;
use crate::page::Chrome;
use crate::session::Visit;

pub struct Field {
    /// The form's name for it, which is the API's field name.
    pub name: &'static str,
    pub label: &'static str,
    pub kind: &'static str,
    pub value: String,
    pub error: Option<String>,
    pub hint: Option<&'static str>,
    pub required: bool,
    pub autocomplete: &'static str,
    /// Further attributes (`min="1"`), from code only.
    pub attrs: &'static str,
    /// `textarea` instead of `input`.
    pub multiline: bool,
}

impl Field {
    pub fn text(name: &'static str, label: &'static str, value: Option<String>) -> Self {
        Self {
            name,
            label,
            kind: "text",
            value: value.unwrap_or_default(),
            error: None,
            hint: None,
            required: false,
            autocomplete: "off",
            attrs: "",
            multiline: false,
        }
    }
    pub fn kind(mut self, kind: &'static str) -> Self {
        self.kind = kind;
        self
    }
    pub fn required(mut self) -> Self {
        self.required = true;
        self
    }
    pub fn autocomplete(mut self, a: &'static str) -> Self {
        self.autocomplete = a;
        self
    }
    pub fn hint(mut self, h: &'static str) -> Self {
        self.hint = Some(h);
        self
    }
    pub fn attrs(mut self, a: &'static str) -> Self {
        self.attrs = a;
        self
    }
    pub fn multiline(mut self) -> Self {
        self.multiline = true;
        self
    }
}

/// A page with one form.
#[derive(Template, WebTemplate)]
#[template(path = "form.html")]
pub struct FormPage {
    pub t: Lang,
    pub chrome: Chrome,
    pub title: String,
    pub action: String,
    pub submit: &'static str,
    pub fields: Vec<Field>,
    pub hidden: Vec<(&'static str, String)>,
    /// A refusal that names no field of the form.
    pub form_error: Option<String>,
    pub notice: Option<String>,
    /// A link beside the form (sign-up beside sign-in).
    pub aside: Option<(&'static str, &'static str)>,
    /// A second form on the page: a button that posts to a URL (delete beside edit).
    pub danger: Option<(String, &'static str)>,
    /// Instead of the form: a button to sign in at the OpenID provider.
    pub provider: Option<String>,
    pub admin_page: bool,
}

impl FormPage {
    pub fn new(visit: &Visit, title: &str, action: &str, submit: &'static str) -> Self {
        Self {
            t: visit.lang,
            chrome: Chrome::of(visit),
            title: title.to_owned(),
            action: action.to_owned(),
            submit,
            fields: Vec::new(),
            hidden: Vec::new(),
            form_error: None,
            notice: None,
            aside: None,
            danger: None,
            provider: None,
            admin_page: visit.path.starts_with("/admin"),
        }
    }

    /// Shows `detail` at the field it names (or at `fallback`), else above the form.
    pub fn attach(&mut self, fallback: &str, detail: String) {
        if let Some(unplaced) = attach(&mut self.fields, Some(fallback), detail) {
            self.form_error = Some(unplaced);
        }
    }

    /// An idempotency key for this form: the one it was sent with, or a fresh one.
    pub fn keyed(mut self, sent: Option<&str>) -> Self {
        self.hidden.push(("idempotencyKey", crate::api::form_key(sent)));
        self
    }
}

/// Puts `detail` on the field of `fields` it names, else on `fallback`'s; gives it back when it
/// belongs to none of them (to show above the form).
pub fn attach(fields: &mut [Field], fallback: Option<&str>, detail: String) -> Option<String> {
    let names: Vec<&str> = fields.iter().map(|f| f.name).collect();
    let named = field_named(&detail, &names).or_else(|| names.iter().copied().find(|n| Some(*n) == fallback));
    match named.and_then(|n| fields.iter_mut().find(|f| f.name == n)) {
        Some(field) => {
            field.error = Some(detail);
            None
        }
        None => Some(detail),
    }
}

/// The field of `names` that `detail` is about: the one it starts with (the API's messages begin
/// with the field's name), else the first one it names as a word.
pub fn field_named<'a>(detail: &str, names: &[&'a str]) -> Option<&'a str> {
    let first = detail.split(|c: char| !c.is_ascii_alphanumeric()).next().unwrap_or("");
    if let Some(n) = names.iter().find(|n| **n == first) {
        return Some(n);
    }
    let words: Vec<&str> = detail.split(|c: char| !c.is_ascii_alphanumeric()).collect();
    names.iter().find(|n| words.contains(n)).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_is_shown_at_the_field_it_names() {
        let names = ["flightName", "seat", "price"];
        assert_eq!(field_named("seat cannot be reduced below the 12 seats already sold", &names), Some("seat"));
        assert_eq!(field_named("price must be between 1 and 100000000", &names), Some("price"));
        assert_eq!(field_named("the flight must have a seat", &names), Some("seat"));
        assert_eq!(field_named("flight 3 was changed by someone else", &names), None);
        assert_eq!(field_named("checkOut must be after checkIn", &["checkIn", "checkOut"]), Some("checkOut"));
    }
}
