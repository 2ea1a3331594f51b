//! Korean and English. The language is the `lang` cookie (set by the switch on every page), else
//! the best of `Accept-Language`, else Korean: the seeds' customers are Korean.
//!
//! Two languages and a few hundred words fit one table checked by a test (every key a template
//! uses exists in both); a message-format library would add a runtime and a file format for no
//! plural or gender rule either language needs here (ADR 18).

use axum::http::{HeaderMap, header};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Ko,
    En,
}

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Self::Ko => "ko",
            Self::En => "en",
        }
    }

    pub fn parse(code: &str) -> Option<Self> {
        match code {
            "ko" => Some(Self::Ko),
            "en" => Some(Self::En),
            _ => None,
        }
    }

    /// The other language, for the switch.
    pub fn other(self) -> Self {
        match self {
            Self::Ko => Self::En,
            Self::En => Self::Ko,
        }
    }

    /// The language's own name, for the switch.
    pub fn name(self) -> &'static str {
        match self {
            Self::Ko => "한국어",
            Self::En => "English",
        }
    }

    /// The `lang` cookie, else `Accept-Language` (by q-value, first wins a tie), else Korean.
    pub fn negotiate(headers: &HeaderMap) -> Self {
        if let Some(lang) = crate::session::cookie(headers, "lang").and_then(|c| Self::parse(&c)) {
            return lang;
        }
        let accept = headers.get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()).unwrap_or("");
        let mut best: Option<(f32, Self)> = None;
        for range in accept.split(',') {
            let mut parts = range.split(';');
            let tag = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let q = parts.find_map(|p| p.trim().strip_prefix("q=")).and_then(|q| q.parse::<f32>().ok()).unwrap_or(1.0);
            let primary = tag.split('-').next().unwrap_or("");
            if let Some(lang) = Self::parse(primary)
                && q > 0.0
                && best.is_none_or(|(b, _)| q > b)
            {
                best = Some((q, lang));
            }
        }
        best.map_or(Self::Ko, |(_, l)| l)
    }

    /// The text for `key` in this language (the key itself when the table lacks it, which a test
    /// prevents).
    pub fn s(&self, key: &str) -> &'static str {
        match TEXTS.iter().find(|(k, _, _)| *k == key) {
            Some((_, en, ko)) => match self {
                Self::En => en,
                Self::Ko => ko,
            },
            None => "?",
        }
    }
}

/// (key, English, Korean).
pub const TEXTS: &[(&str, &str, &str)] = &[
    ("site", "Skycamp", "스카이캠프"),
    ("tagline", "Flights and campsites, booked and paid in one step", "항공권과 캠핑장을 한 번에 예약하고 결제하세요"),
    ("skip", "Skip to content", "본문으로 건너뛰기"),
    ("nav", "Main", "주 메뉴"),
    ("home", "Home", "홈"),
    ("flights", "Flights", "항공편"),
    ("campsites", "Campsites", "캠핑장"),
    ("my_reservations", "My reservations", "내 예약"),
    ("mileage", "Mileage", "마일리지"),
    ("messages", "Messages", "메시지"),
    ("admin", "Admin", "관리자"),
    ("sign_in", "Sign in", "로그인"),
    ("sign_up", "Create an account", "회원가입"),
    ("sign_in_provider", "Sign in with your account provider", "계정 제공자로 로그인"),
    ("sign_out", "Sign out", "로그아웃"),
    ("signed_in_as", "Signed in as", "로그인:"),
    ("act_as", "Act as a customer", "고객으로 이용하기"),
    (
        "act_as_hint",
        "Authentication is off on this platform: enter a phone number to act as that customer.",
        "이 플랫폼은 인증이 꺼져 있습니다. 이용할 고객의 전화번호를 입력하세요.",
    ),
    ("language", "Language", "언어"),
    ("flight", "Flight", "항공편"),
    ("destination", "Destination", "목적지"),
    ("price", "Price", "가격"),
    ("price_per_seat", "Price per seat", "좌석당 가격"),
    ("seats", "Seats", "좌석"),
    ("seats_left", "Seats left", "남은 좌석"),
    ("status", "Status", "상태"),
    ("book", "Book and pay", "예약하고 결제하기"),
    ("count", "Seats to book", "예약 좌석 수"),
    ("name", "Name", "이름"),
    ("location", "Location", "위치"),
    ("description", "Description", "설명"),
    ("price_per_night", "Price per night", "1박 요금"),
    ("capacity", "Capacity (guests)", "수용 인원"),
    ("amenities", "Amenities (comma-separated)", "편의시설 (쉼표로 구분)"),
    ("amenities_list", "Amenities", "편의시설"),
    ("no_flights", "No flights are on sale right now.", "현재 판매 중인 항공편이 없습니다."),
    ("no_campsites", "No campsites are open right now.", "현재 예약 가능한 캠핑장이 없습니다."),
    ("rating", "Rating", "평점"),
    ("reviews", "Reviews", "후기"),
    ("no_reviews", "No reviews yet.", "아직 후기가 없습니다."),
    ("availability", "Availability", "예약 현황"),
    ("available", "Available", "예약 가능"),
    ("booked", "Booked", "예약됨"),
    ("check_in", "Check-in", "체크인"),
    ("check_out", "Check-out", "체크아웃"),
    ("guests", "Guests", "인원"),
    ("nights", "Nights", "박"),
    ("amount", "Amount", "금액"),
    ("reservation", "Reservation", "예약"),
    ("reservations", "Reservations", "예약"),
    ("item", "Booked", "예약 내역"),
    ("no_reservations", "You have no reservations yet.", "아직 예약이 없습니다."),
    ("timeline", "Timeline", "진행 기록"),
    ("cancel", "Cancel this reservation", "예약 취소"),
    (
        "cancel_confirm",
        "Cancelling refunds the payment and returns what was held.",
        "취소하면 결제가 환불되고 예약했던 좌석이나 날짜가 반환됩니다.",
    ),
    ("write_review", "Write a review", "후기 쓰기"),
    ("review_text", "Your review", "후기 내용"),
    ("submit_review", "Post review", "후기 등록"),
    ("balance", "Balance", "잔액"),
    ("points", "points", "점"),
    ("ledger", "Ledger", "적립·차감 내역"),
    ("cause", "Cause", "사유"),
    ("change", "Change", "변동"),
    ("when", "When", "일시"),
    ("no_entries", "Nothing here yet.", "아직 내역이 없습니다."),
    ("message", "Message", "메시지"),
    ("phone", "Phone number", "전화번호"),
    ("password", "Password", "비밀번호"),
    ("password_hint", "8 to 128 characters.", "8~128자"),
    ("username", "Phone number (or admin)", "전화번호 (또는 admin)"),
    (
        "signed_up",
        "If this phone had no account, it has one now. Sign in.",
        "계정이 없던 번호라면 이제 계정이 만들어졌습니다. 로그인하세요.",
    ),
    ("save", "Save", "저장"),
    ("create", "Create", "등록"),
    ("edit", "Edit", "수정"),
    ("delete", "Delete", "삭제"),
    ("actions", "Actions", "작업"),
    ("view", "View", "보기"),
    ("problem", "Please fix the following", "다음 내용을 확인해 주세요"),
    ("error", "Something went wrong", "문제가 발생했습니다"),
    ("error_401", "Please sign in.", "로그인이 필요합니다."),
    ("error_403", "You may not see or do this.", "이 작업에 대한 권한이 없습니다."),
    ("error_404", "Not found.", "찾을 수 없습니다."),
    ("error_409", "This conflicts with the current state.", "현재 상태와 맞지 않습니다."),
    ("error_429", "Too many attempts: wait a moment and try again.", "시도가 너무 많습니다. 잠시 후 다시 시도하세요."),
    (
        "error_503",
        "A service is busy or down: try again shortly. Nothing was charged twice.",
        "서비스가 잠시 응답하지 않습니다. 잠시 후 다시 시도하세요. 중복 결제는 발생하지 않습니다.",
    ),
    ("back_home", "Back to the home page", "홈으로"),
    ("live", "Updates live", "실시간 갱신"),
    ("paid_wait", "Paid. Waiting for the seats or nights to be confirmed…", "결제 완료. 좌석/날짜 확정을 기다리는 중…"),
    ("admin_console", "Admin console", "관리자 콘솔"),
    ("new_flight", "Register a flight", "항공편 등록"),
    ("new_campsite", "Register a campsite", "캠핑장 등록"),
    ("edit_flight", "Edit flight", "항공편 수정"),
    ("edit_campsite", "Edit campsite", "캠핑장 수정"),
    ("payments", "Payments and refunds", "결제 및 환불"),
    ("refund", "Refund", "환불"),
    ("dead_letters", "Dead letters", "처리 실패 이벤트"),
    ("replay", "Replay", "재처리"),
    ("stuck_sagas", "Stuck sagas", "멈춘 사가"),
    ("retry", "Retry", "재시도"),
    ("compensate", "Compensate", "보상 처리"),
    ("breaker", "Payment circuit breaker", "결제 서킷 브레이커"),
    ("audit", "Audit report", "감사 보고서"),
    ("run_audit", "Run the audit", "감사 실행"),
    ("audit_clean", "Every service agrees: no mismatch.", "모든 서비스가 일치합니다. 불일치 없음."),
    ("mismatches", "Mismatches", "불일치"),
    ("bookings_per_minute", "Bookings per minute", "분당 예약 수"),
    (
        "bookings_rate_hint",
        "From the reservation service's own metrics, sampled every 5 seconds.",
        "예약 서비스의 메트릭에서 5초마다 측정합니다.",
    ),
    ("total_bookings", "bookings placed since start", "시작 이후 예약 수"),
    ("service", "Service", "서비스"),
    ("event", "Event", "이벤트"),
    ("reason", "Error", "오류"),
    ("attempts", "Attempts", "시도 횟수"),
    ("none", "None.", "없음."),
    ("unreachable", "cannot be reached now", "지금 연결할 수 없음"),
    ("customer", "Customer", "고객"),
    ("created", "Created", "생성"),
    ("done", "Done.", "완료되었습니다."),
    ("admin_only", "This console is for admins.", "관리자 전용 콘솔입니다."),
    ("circuit_state", "State", "상태"),
    ("per_night", "per night", "1박"),
    ("seats_unit", "seats", "석"),
    ("menu_admin", "Admin sections", "관리 메뉴"),
    ("reservation_no", "Reservation no.", "예약 번호"),
    ("st_pending", "Awaiting payment", "결제 대기"),
    ("st_paid", "Paid, confirming", "결제 완료 · 확정 중"),
    ("st_confirmed", "Confirmed", "예약 확정"),
    ("st_rejected", "Rejected, refunded", "거절됨 · 환불"),
    ("st_cancelled", "Cancelled, refunded", "취소됨 · 환불"),
    ("st_sold_out", "Sold out", "매진"),
    ("st_withdrawn", "Withdrawn", "판매 중지"),
    ("st_approved", "Approved", "승인"),
    ("st_declined", "Declined", "거절"),
    ("st_refunded", "Refunded", "환불됨"),
    ("st_other", "Unknown", "알 수 없음"),
];

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn accept(v: &str) -> Lang {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT_LANGUAGE, HeaderValue::from_str(v).unwrap());
        Lang::negotiate(&h)
    }

    #[test]
    fn the_language_follows_accept_language_and_defaults_to_korean() {
        assert_eq!(accept("en-US,en;q=0.9"), Lang::En);
        assert_eq!(accept("ko-KR,ko;q=0.9,en;q=0.8"), Lang::Ko);
        assert_eq!(accept("fr-FR,en;q=0.5,ko;q=0.7"), Lang::Ko);
        assert_eq!(accept("fr-FR"), Lang::Ko);
        assert_eq!(accept("en;q=0"), Lang::Ko);
        assert_eq!(Lang::negotiate(&HeaderMap::new()), Lang::Ko);
    }

    #[test]
    fn the_cookie_beats_the_header() {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT_LANGUAGE, HeaderValue::from_static("ko"));
        h.insert(header::COOKIE, HeaderValue::from_static("a=b; lang=en"));
        assert_eq!(Lang::negotiate(&h), Lang::En);
    }

    /// Every `s("…")` in the templates and the code names a key of the table, which has both
    /// languages, once.
    #[test]
    fn every_text_used_exists_in_both_languages() {
        let mut keys = std::collections::HashSet::new();
        for (k, en, ko) in TEXTS {
            assert!(keys.insert(*k), "{k} twice");
            assert!(!en.is_empty() && !ko.is_empty(), "{k}");
        }
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut sources = Vec::new();
        for sub in ["templates", "src"] {
            for entry in std::fs::read_dir(dir.join(sub)).unwrap() {
                sources.push(std::fs::read_to_string(entry.unwrap().path()).unwrap());
            }
        }
        let mut used = 0;
        for text in &sources {
            for (i, _) in text.match_indices(".s(\"") {
                let rest = &text[i + 4..];
                let key = &rest[..rest.find('"').unwrap()];
                if key.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_') {
                    used += 1;
                    assert!(keys.contains(key), "{key} is used but not in the table");
                }
            }
        }
        assert!(used > 50, "found only {used} uses");
    }
}
