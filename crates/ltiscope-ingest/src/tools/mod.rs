//! Tool identity: which named tool a launch counts towards. Rules from the configuration come
//! first (client id, deployment id, consumer key, tool-provider id, host, path pattern), then the
//! built-in [`catalogue`], then the registrable domain of the launch URL (public-suffix aware,
//! so `a.example.co.uk` and `b.example.co.uk` are one tool, `x.herokuapp.com` and
//! `y.herokuapp.com` are two).

pub mod catalogue;

use ltiscope_model::{ToolIdentity, ToolMatch, ToolRef};

/// One administrator rule. Every condition that is set must hold; a rule with no condition
/// never matches.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ToolRule {
    /// The tool id launches are counted under (defaults to a slug of `name`).
    pub id: String,
    /// The display name.
    pub name: String,
    /// LTI 1.3 client id.
    pub client_id: Option<String>,
    /// LTI 1.3 deployment id.
    pub deployment_id: Option<String>,
    /// LTI 1.1 consumer key.
    pub consumer_key: Option<String>,
    /// Brightspace legacy tool provider id.
    pub tool_provider_id: Option<String>,
    /// Host, exact (`lti.example.com`) or with its subdomains (`*.example.com`).
    pub host: Option<String>,
    /// Path pattern: `*` matches any run of characters (`/lti/*/launch`).
    pub path: Option<String>,
}

impl ToolRule {
    fn matches(&self, tool: &ToolRef, path: Option<&str>) -> bool {
        let mut any = false;
        let mut check = |want: &Option<String>, have: Option<&str>| match want {
            None => true,
            Some(w) => {
                any = true;
                have == Some(w.as_str())
            }
        };
        let ids_ok = check(&self.client_id, tool.client_id.as_deref())
            & check(&self.deployment_id, tool.deployment_id.as_deref())
            & check(&self.consumer_key, tool.consumer_key.as_deref())
            & check(&self.tool_provider_id, tool.tool_provider_id.as_deref());
        let host_ok = match &self.host {
            None => true,
            Some(pattern) => {
                any = true;
                let pattern = pattern.to_ascii_lowercase();
                tool.host
                    .as_deref()
                    .is_some_and(|h| match pattern.strip_prefix("*.") {
                        Some(domain) => catalogue::host_in_domain(h, domain),
                        None => h == pattern,
                    })
            }
        };
        let path_ok = match &self.path {
            None => true,
            Some(pattern) => {
                any = true;
                path.is_some_and(|p| glob_match(pattern, p))
            }
        };
        any && ids_ok && host_ok && path_ok
    }
}

/// `*` matches any run of characters, everything else literally.
fn glob_match(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || !text[first.len()..].ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for middle in &parts[1..parts.len() - 1] {
        match rest.find(middle) {
            Some(i) => rest = &rest[i + middle.len()..],
            None => return false,
        }
    }
    true
}

/// Resolves raw tool identifiers to a named tool.
#[derive(Debug, Clone, Default)]
pub struct ToolResolver {
    rules: Vec<ToolRule>,
}

impl ToolResolver {
    /// A resolver with the administrator's rules (tried in order, first match wins).
    pub fn new(rules: Vec<ToolRule>) -> Self {
        ToolResolver { rules }
    }

    /// What the names this resolver gives depend on: its rules and this build's catalogue.
    /// The store keeps it beside the names it gave, so that a change of either is noticed and
    /// the stored launch records are named again (`Store::name_tools`). FNV-1a, which, unlike
    /// std's hashers, is the same in every build and on every platform.
    pub fn fingerprint(&self) -> String {
        let text = format!(
            "{} {:?} {:?}",
            env!("CARGO_PKG_VERSION"),
            self.rules,
            catalogue::CATALOGUE
        );
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in text.bytes() {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        format!("{h:016x}")
    }

    /// The tools the rules name, each id once with the name of its first rule, in rule
    /// order: the tools an institution told us it has, launched or not.
    pub fn named_tools(&self) -> Vec<(String, String)> {
        let mut seen = std::collections::HashSet::new();
        self.rules
            .iter()
            .filter(|r| seen.insert(r.id.as_str()))
            .map(|r| (r.id.clone(), r.name.clone()))
            .collect()
    }

    /// Whether a rule looks at the launch URL's path (otherwise the host and the ids alone
    /// decide every name).
    pub fn reads_paths(&self) -> bool {
        self.rules.iter().any(|r| r.path.is_some())
    }

    /// The named tool for a launch.
    pub fn resolve(&self, tool: &ToolRef) -> ToolIdentity {
        let path = tool.launch_url.as_deref().and_then(url_path);
        if let Some(rule) = self.rules.iter().find(|r| r.matches(tool, path)) {
            return ToolIdentity {
                id: rule.id.clone(),
                name: rule.name.clone(),
                matched_by: ToolMatch::Rule,
            };
        }
        if let Some(host) = tool.host.as_deref() {
            if let Some((id, name)) = catalogue::lookup(host) {
                return ToolIdentity {
                    id: id.to_owned(),
                    name: name.to_owned(),
                    matched_by: ToolMatch::Catalogue,
                };
            }
            let domain = registrable_domain(host);
            return ToolIdentity {
                id: domain.clone(),
                name: domain,
                matched_by: ToolMatch::Domain,
            };
        }
        // No URL: name the tool by whatever identifier the platform gave, so launches of one
        // unnamed tool still count together.
        let fallback = [
            ("client", &tool.client_id),
            ("provider", &tool.tool_provider_id),
            ("key", &tool.consumer_key),
        ]
        .into_iter()
        .find_map(|(kind, v)| v.as_ref().map(|v| format!("{kind}:{v}")));
        let id = fallback.unwrap_or_else(|| "unknown".to_owned());
        ToolIdentity {
            name: id.clone(),
            id,
            matched_by: ToolMatch::Unknown,
        }
    }
}

/// The registrable domain (eTLD+1) of a host; IP addresses and single labels stay as they are.
pub fn registrable_domain(host: &str) -> String {
    if host.parse::<std::net::IpAddr>().is_ok() {
        return host.to_owned();
    }
    psl::domain_str(host).unwrap_or(host).to_owned()
}

fn url_path(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    let start = rest.find('/')?;
    let path = &rest[start..];
    Some(path.split(['?', '#']).next().unwrap_or(path))
}

/// A tool id from a display name: lower case, runs of other characters become one `-`.
pub fn slug(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    out.trim_end_matches('-').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tool(url: &str) -> ToolRef {
        ToolRef {
            host: crate::fields::url_host(url),
            launch_url: Some(url.to_owned()),
            ..ToolRef::default()
        }
    }

    #[test]
    fn catalogue_then_domain() {
        let r = ToolResolver::default();
        let t = r.resolve(&tool("https://api.turnitin.com/lti/1p3/launch"));
        assert_eq!(
            (t.id.as_str(), t.matched_by),
            ("turnitin", ToolMatch::Catalogue)
        );
        let t = r.resolve(&tool("https://lti.tools.example.co.uk/launch"));
        assert_eq!(
            (t.id.as_str(), t.matched_by),
            ("example.co.uk", ToolMatch::Domain)
        );
        // herokuapp.com is a public suffix: each app is its own tool.
        let t = r.resolve(&tool("https://ltiah.herokuapp.com/launch_lti"));
        assert_eq!(t.id, "ltiah.herokuapp.com");
    }

    #[test]
    fn the_fingerprint_changes_with_the_rules_only() {
        let rule = ToolRule {
            id: "x".into(),
            name: "X".into(),
            host: Some("x.example.org".into()),
            ..ToolRule::default()
        };
        let with = |rules: Vec<ToolRule>| ToolResolver::new(rules).fingerprint();
        assert_eq!(
            ToolResolver::default().fingerprint(),
            with(vec![]),
            "the same rules, the same fingerprint"
        );
        assert_ne!(with(vec![]), with(vec![rule.clone()]));
        let renamed = ToolRule {
            name: "Y".into(),
            ..rule.clone()
        };
        assert_ne!(with(vec![rule.clone()]), with(vec![renamed]));
        assert_eq!(with(vec![rule.clone()]).len(), 16);
        assert!(!ToolResolver::new(vec![rule.clone()]).reads_paths());
        let by_path = ToolRule {
            path: Some("/a/*".into()),
            ..rule.clone()
        };
        assert!(ToolResolver::new(vec![by_path.clone()]).reads_paths());
        // Two rules of one tool (a merge) name it once, by its first rule.
        let merged = ToolRule {
            name: "X again".into(),
            ..by_path
        };
        let other = ToolRule {
            id: "z".into(),
            name: "Z".into(),
            ..merged.clone()
        };
        assert_eq!(
            ToolResolver::new(vec![rule, merged, other]).named_tools(),
            [("x".into(), "X".into()), ("z".into(), "Z".into())]
        );
    }

    #[test]
    fn rules_win_and_need_all_conditions() {
        let r = ToolResolver::new(vec![
            ToolRule {
                id: "library-reserves".into(),
                name: "Library Reserves".into(),
                host: Some("*.example.org".into()),
                path: Some("/reserves/*".into()),
                ..ToolRule::default()
            },
            ToolRule {
                id: "quiz".into(),
                name: "Quiz".into(),
                client_id: Some("abc".into()),
                ..ToolRule::default()
            },
        ]);
        assert_eq!(
            r.resolve(&tool("https://lti.example.org/reserves/launch"))
                .id,
            "library-reserves"
        );
        assert_eq!(
            r.resolve(&tool("https://lti.example.org/other")).id,
            "example.org"
        );
        let mut t = tool("https://x.example.net/");
        t.client_id = Some("abc".into());
        assert_eq!(r.resolve(&t).matched_by, ToolMatch::Rule);
    }

    #[test]
    fn no_url_falls_back_to_identifiers() {
        let t = ToolRef {
            tool_provider_id: Some("12".into()),
            ..ToolRef::default()
        };
        assert_eq!(ToolResolver::default().resolve(&t).id, "provider:12");
    }

    #[test]
    fn globs_and_slugs() {
        assert!(glob_match("/lti/*/launch", "/lti/abc/launch"));
        assert!(!glob_match("/lti/*/launch", "/lti/abc/other"));
        assert_eq!(slug("Library Reserves (new)"), "library-reserves-new");
    }
}
