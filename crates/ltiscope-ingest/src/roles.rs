//! Role normalisation: LTI 1.1 URNs, LIS v2 URIs (LTI 1.3), Caliper terms, bare handles and
//! Brightspace `imsRoleIds`, all into one [`RoleBucket`] plus the raw values.

use ltiscope_model::{RoleBucket, Roles};

/// Where a role applies. Context roles describe the user in this course and outrank
/// institution and system roles, which describe the person in general.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    Context,
    Institution,
    System,
}

/// One role split into its parts: `urn:lti:role:ims/lis/Instructor/TeachingAssistant` and
/// `http://purl.imsglobal.org/vocab/lis/v2/membership/Instructor#TeachingAssistant` both give
/// (Context, "Instructor", Some("TeachingAssistant")).
fn split_role(raw: &str) -> Option<(Scope, &str, Option<&str>)> {
    let r = raw.trim();
    if r.is_empty() {
        return None;
    }
    // LTI 1.1 URNs.
    for (prefix, scope) in [
        ("urn:lti:role:ims/lis/", Scope::Context),
        ("urn:lti:instrole:ims/lis/", Scope::Institution),
        ("urn:lti:sysrole:ims/lis/", Scope::System),
    ] {
        if r.len() > prefix.len()
            && r.get(..prefix.len())
                .is_some_and(|p| p.eq_ignore_ascii_case(prefix))
        {
            let rest = &r[prefix.len()..];
            let mut parts = rest.splitn(2, '/');
            let main = parts.next()?;
            return Some((scope, main, parts.next()));
        }
    }
    // LIS v2 / LTI 1.3 URIs.
    if let Some(idx) = r.find("/vocab/lis/v2/") {
        let rest = &r[idx + "/vocab/lis/v2/".len()..];
        let (path, frag) = rest.split_once('#')?;
        let scope = if path.starts_with("membership") {
            Scope::Context
        } else if path.starts_with("institution") {
            Scope::Institution
        } else {
            Scope::System
        };
        // `membership/Instructor#TeachingAssistant`: the path names the main role.
        return match path.split_once('/') {
            Some((_, main)) if scope == Scope::Context => Some((scope, main, Some(frag))),
            _ => Some((scope, frag, None)),
        };
    }
    if let Some(idx) = r.find("/vocab/lti/system/person#") {
        return Some((
            Scope::System,
            &r[idx + "/vocab/lti/system/person#".len()..],
            None,
        ));
    }
    // Caliper terms (`Instructor#TeachingAssistant`) and bare LTI 1.1 handles (`Instructor`).
    if r.contains("://") || r.starts_with("urn:") {
        return None;
    }
    let (main, sub) = match r.split_once(['#', '/']) {
        Some((m, s)) => (m, Some(s)),
        None => (r, None),
    };
    Some((Scope::Context, main, sub))
}

fn eq(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

fn is_test_user(main: &str, sub: Option<&str>) -> bool {
    eq(main, "TestUser") || sub.is_some_and(|s| eq(s, "TestUser"))
}

/// The bucket of one role, or `None` when it says nothing about teaching (e.g. `User`).
fn bucket_of(scope: Scope, main: &str, sub: Option<&str>) -> Option<RoleBucket> {
    use RoleBucket::*;
    let sub_is = |name: &str| sub.is_some_and(|s| eq(s, name));
    Some(match scope {
        Scope::Context => {
            if eq(main, "Instructor") {
                if sub_is("TeachingAssistant") || sub_is("Grader") {
                    TeachingAssistant
                } else {
                    Instructor
                }
            } else if eq(main, "TeachingAssistant") || eq(main, "TA") {
                TeachingAssistant
            } else if eq(main, "Learner") || eq(main, "Student") {
                Learner
            } else if eq(main, "ContentDeveloper") {
                ContentDeveloper
            } else if eq(main, "Mentor") {
                Mentor
            } else if eq(main, "Administrator") {
                Administrator
            } else if eq(main, "Faculty") || eq(main, "Teacher") {
                Instructor
            } else {
                Other
            }
        }
        Scope::Institution => {
            if eq(main, "Student") || eq(main, "Learner") || eq(main, "ProspectiveStudent") {
                Learner
            } else if eq(main, "Faculty") || eq(main, "Instructor") {
                Instructor
            } else if eq(main, "Administrator") {
                Administrator
            } else if eq(main, "Mentor") || eq(main, "Observer") || eq(main, "Guardian") {
                Mentor
            } else if eq(main, "ContentDeveloper") {
                ContentDeveloper
            } else {
                Other
            }
        }
        Scope::System => {
            if eq(main, "SysAdmin")
                || eq(main, "Administrator")
                || eq(main, "AccountAdmin")
                || eq(main, "SysSupport")
            {
                Administrator
            } else {
                return None;
            }
        }
    })
}

/// How strongly a bucket claims a launch: teaching roles first, then administration, then
/// mentoring, then learning.
fn rank(bucket: RoleBucket) -> u8 {
    match bucket {
        RoleBucket::Instructor => 7,
        RoleBucket::TeachingAssistant => 6,
        RoleBucket::ContentDeveloper => 5,
        RoleBucket::Administrator => 4,
        RoleBucket::Mentor => 3,
        RoleBucket::Learner => 2,
        RoleBucket::Other => 1,
    }
}

/// Normalises a list of raw role values (each may itself be a comma-separated list).
pub fn normalise_roles<I, S>(raw: I) -> Roles
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let mut out = Roles::default();
    let mut best_context: Option<RoleBucket> = None;
    let mut best_other: Option<RoleBucket> = None;
    for value in raw {
        for role in value.as_ref().split(',') {
            let role = role.trim();
            if role.is_empty() {
                continue;
            }
            out.raw.push(role.to_owned());
            let Some((scope, main, sub)) = split_role(role) else {
                continue;
            };
            if is_test_user(main, sub) {
                out.test_user = true;
                continue;
            }
            let Some(bucket) = bucket_of(scope, main, sub) else {
                continue;
            };
            let slot = if scope == Scope::Context {
                &mut best_context
            } else {
                &mut best_other
            };
            if slot.is_none_or(|b| rank(bucket) > rank(b)) {
                *slot = Some(bucket);
            }
        }
    }
    out.bucket = match (best_context, best_other) {
        (Some(RoleBucket::Other), Some(o)) => o,
        (Some(c), _) => c,
        (None, Some(o)) => o,
        (None, None) => RoleBucket::Other,
    };
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use RoleBucket::*;

    fn check(raw: &[&str], bucket: RoleBucket, test_user: bool) {
        let r = normalise_roles(raw);
        assert_eq!((r.bucket, r.test_user), (bucket, test_user), "{raw:?}");
    }

    #[test]
    fn lti11_urns_and_handles() {
        check(&["urn:lti:role:ims/lis/Learner"], Learner, false);
        check(
            &["urn:lti:sysrole:ims/lis/Administrator"],
            Administrator,
            false,
        );
        check(&["urn:lti:instrole:ims/lis/Student"], Learner, false);
        check(
            &["urn:lti:role:ims/lis/Instructor/TeachingAssistant"],
            TeachingAssistant,
            false,
        );
        check(
            &["urn:lti:role:ims/lis/TeachingAssistant"],
            TeachingAssistant,
            false,
        );
        check(&["Instructor"], Instructor, false);
        check(&["Learner,Instructor"], Instructor, false);
        check(&["urn:lti:role:ims/lis/Mentor/Advisor"], Mentor, false);
        check(
            &["urn:lti:role:ims/lis/ContentDeveloper"],
            ContentDeveloper,
            false,
        );
        check(
            &["urn:lti:role:ims/lis/Learner/NonCreditLearner"],
            Learner,
            false,
        );
    }

    #[test]
    fn lis_v2_and_caliper_terms() {
        check(
            &[
                "http://purl.imsglobal.org/vocab/lis/v2/institution/person#Student",
                "http://purl.imsglobal.org/vocab/lis/v2/membership#Learner",
            ],
            Learner,
            false,
        );
        check(
            &["http://purl.imsglobal.org/vocab/lis/v2/membership/Instructor#TeachingAssistant"],
            TeachingAssistant,
            false,
        );
        check(&["Instructor#TeachingAssistant"], TeachingAssistant, false);
        check(
            &["http://purl.imsglobal.org/vocab/lis/v2/system/person#SysAdmin"],
            Administrator,
            false,
        );
    }

    #[test]
    fn context_roles_outrank_institution_roles() {
        // An institution administrator enrolled as a learner counts as a learner in the course.
        check(
            &[
                "http://purl.imsglobal.org/vocab/lis/v2/institution/person#Administrator",
                "http://purl.imsglobal.org/vocab/lis/v2/membership#Learner",
            ],
            Learner,
            false,
        );
    }

    #[test]
    fn test_users_are_flagged() {
        check(
            &[
                "http://purl.imsglobal.org/vocab/lti/system/person#TestUser",
                "http://purl.imsglobal.org/vocab/lis/v2/membership#Learner",
            ],
            Learner,
            true,
        );
        check(&["urn:lti:sysrole:ims/lis/TestUser"], Other, true);
    }

    #[test]
    fn regression_non_ascii_roles_do_not_split_inside_a_character() {
        // byte 21 (the length of `urn:lti:role:ims/lis/`) falls inside the emoji
        let r = normalise_roles(["urn:lti:role:ims/li\u{1F574}x", "ünïcödé"]);
        assert_eq!(r.bucket, Other);
    }

    #[test]
    fn unknown_and_numeric_roles_are_other_but_kept() {
        let r = normalise_roles(["110", "Guest"]);
        assert_eq!(r.bucket, Other);
        assert_eq!(r.raw, vec!["110", "Guest"]);
    }
}
