//! The control room's pages, rendered on the server in Arabic or English:
//! the log-in form and the shell the script fills. No CDN, no build step:
//! the script and the style sheet are compiled into the binary.

use axum::http::HeaderMap;

/// The page's language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    /// English, left to right.
    En,
    /// Arabic, right to left.
    Ar,
}

impl Lang {
    /// `?lang=ar|en` when given, else the browser's first choice between
    /// the two (`Accept-Language`), else English.
    pub fn pick(query: Option<&str>, headers: &HeaderMap) -> Lang {
        match query {
            Some("ar") => return Lang::Ar,
            Some("en") => return Lang::En,
            _ => {}
        }
        let accepted = headers
            .get(axum::http::header::ACCEPT_LANGUAGE)
            .and_then(|value| value.to_str().ok())
            .unwrap_or("");
        let first = accepted
            .split(',')
            .map(|tag| tag.trim().to_ascii_lowercase())
            .find(|tag| tag.starts_with("ar") || tag.starts_with("en"));
        match first {
            Some(tag) if tag.starts_with("ar") => Lang::Ar,
            _ => Lang::En,
        }
    }

    fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Ar => "ar",
        }
    }

    fn dir(self) -> &'static str {
        match self {
            Lang::En => "ltr",
            Lang::Ar => "rtl",
        }
    }

    /// The words of the page in this language.
    fn text(self, key: &str) -> &'static str {
        let (en, ar) = match key {
            "title" => ("Control room", "غرفة المتابعة"),
            "username" => ("User name", "اسم المستخدم"),
            "password" => ("Password", "كلمة المرور"),
            "log_in" => ("Log in", "دخول"),
            "log_out" => ("Log out", "خروج"),
            "admins_only" => (
                "Only an admin may open the control room.",
                "غرفة المتابعة للمشرفين فقط.",
            ),
            "other" => ("العربية", "English"),
            _ => ("", ""),
        };
        match self {
            Lang::En => en,
            Lang::Ar => ar,
        }
    }

    fn other(self) -> Lang {
        match self {
            Lang::En => Lang::Ar,
            Lang::Ar => Lang::En,
        }
    }
}

/// Text safe inside HTML.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn head(lang: Lang, title: &str) -> String {
    format!(
        "<!doctype html><html lang=\"{code}\" dir=\"{dir}\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} · jcselect</title><link rel=\"stylesheet\" href=\"/admin/assets/admin.css\"></head>",
        code = lang.code(),
        dir = lang.dir(),
        title = escape(title)
    )
}

fn switch(lang: Lang) -> String {
    format!(
        "<a class=\"lang\" href=\"/admin?lang={}\">{}</a>",
        lang.other().code(),
        lang.text("other")
    )
}

/// The log-in form, with what went wrong the last time, if anything.
pub fn login(lang: Lang, problem: Option<&str>) -> String {
    let problem = problem.map_or(String::new(), |text| {
        format!("<p class=\"problem\" role=\"alert\">{}</p>", escape(text))
    });
    format!(
        "{head}<body class=\"login\"><main><h1>{title}</h1>{problem}\
         <form method=\"post\" action=\"/admin/login?lang={code}\">\
         <label>{username} <input name=\"username\" id=\"username\" autocomplete=\"username\" required></label>\
         <label>{password} <input name=\"password\" id=\"password\" type=\"password\" autocomplete=\"current-password\" required></label>\
         <button type=\"submit\" id=\"log-in\">{log_in}</button></form>{switch}</main></body></html>",
        head = head(lang, lang.text("title")),
        title = lang.text("title"),
        code = lang.code(),
        username = lang.text("username"),
        password = lang.text("password"),
        log_in = lang.text("log_in"),
        switch = switch(lang),
    )
}

/// The shell of the dashboard: the script fills it from
/// `/admin/api/overview` every few seconds.
pub fn dashboard(lang: Lang, username: &str) -> String {
    format!(
        "{head}<body data-lang=\"{code}\"><header><h1>{title}</h1>\
         <span class=\"who\" dir=\"auto\">{user}</span>{switch}\
         <form method=\"post\" action=\"/admin/logout\"><button type=\"submit\" id=\"log-out\">{log_out}</button></form>\
         </header><main>\
         <section class=\"summary\" id=\"summary\"></section>\
         <div class=\"controls\"><label id=\"town-label\"><select id=\"town\"></select></label>\
         <span class=\"pager\"><button type=\"button\" id=\"previous\"></button>\
         <span id=\"rows\"></span><button type=\"button\" id=\"next\"></button></span>\
         <span id=\"updated\" aria-live=\"polite\"></span></div>\
         <table id=\"pens\"><thead></thead><tbody></tbody></table>\
         <section id=\"detail\" hidden></section>\
         <h2 id=\"centre-title\"></h2><table id=\"centre\"><thead></thead><tbody></tbody></table>\
         </main><script src=\"/admin/assets/admin.js\"></script></body></html>",
        head = head(lang, lang.text("title")),
        code = lang.code(),
        title = lang.text("title"),
        user = escape(username),
        switch = switch(lang),
        log_out = lang.text("log_out"),
    )
}

/// The page an operator gets after logging in.
pub fn admins_only(lang: Lang) -> String {
    login(lang, Some(lang.text("admins_only")))
}

#[cfg(test)]
mod tests {
    use super::{escape, Lang};
    use axum::http::{HeaderMap, HeaderValue};

    #[test]
    fn the_language_follows_the_query_then_the_browser() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "accept-language",
            HeaderValue::from_static("fr-FR, ar-LB;q=0.8, en;q=0.5"),
        );
        assert_eq!(Lang::pick(None, &headers), Lang::Ar);
        assert_eq!(Lang::pick(Some("en"), &headers), Lang::En);
        assert_eq!(Lang::pick(None, &HeaderMap::new()), Lang::En);
        assert!(super::dashboard(Lang::Ar, "x").contains("dir=\"rtl\""));
        assert_eq!(escape("<b>\"&"), "&lt;b&gt;&quot;&amp;");
    }
}
