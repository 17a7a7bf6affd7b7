//! Templates shared by every section: the frame's sections, the problem page and
//! the sign-in form.

use askama::Template;

/// One entry of the panel's navigation.
pub struct Section {
    pub key: &'static str,
    pub label: &'static str,
    pub href: &'static str,
}

pub const SECTIONS: &[Section] = &[
    Section {
        key: "dashboard",
        label: "Dashboard",
        href: "/admin/ai_video/",
    },
    Section {
        key: "stories",
        label: "Stories",
        href: "/admin/ai_video/stories/",
    },
    Section {
        key: "jobs",
        label: "Jobs",
        href: "/admin/ai_video/jobs/",
    },
    Section {
        key: "providers",
        label: "Providers",
        href: "/admin/ai_video/providers/",
    },
    Section {
        key: "quotas",
        label: "Quotas",
        href: "/admin/ai_video/quotas/",
    },
];

#[derive(Template)]
#[template(path = "admin/problem.html")]
pub struct Problem<'a> {
    pub title: &'a str,
    pub status: u16,
    pub detail: &'a str,
}

#[derive(Template)]
#[template(path = "admin/login.html")]
pub struct SignIn<'a> {
    pub csrf: &'a str,
    pub next: &'a str,
    pub error: Option<&'a str>,
}
