//! Roles as reports need them: one bucket per launch, the raw values beside it.

/// The coarse role a launch is counted under. When a user holds several roles in a context the
/// most privileged teaching role wins (administrator is only chosen when no context role says
/// otherwise), so an instructor who is also enrolled as a learner counts as an instructor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RoleBucket {
    /// Students, learners, members.
    Learner,
    /// Instructors, faculty, teachers.
    Instructor,
    /// Teaching assistants, graders (LTI sub-roles of instructor).
    TeachingAssistant,
    /// Course designers and content developers.
    ContentDeveloper,
    /// Mentors, advisors, parents/guardians, auditors of someone else.
    Mentor,
    /// System and institution administrators acting outside a teaching role.
    Administrator,
    /// Anything else, or no role at all.
    Other,
}

impl RoleBucket {
    /// The stable name used in storage and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            RoleBucket::Learner => "learner",
            RoleBucket::Instructor => "instructor",
            RoleBucket::TeachingAssistant => "teaching-assistant",
            RoleBucket::ContentDeveloper => "content-developer",
            RoleBucket::Mentor => "mentor",
            RoleBucket::Administrator => "administrator",
            RoleBucket::Other => "other",
        }
    }

    /// Parses the stable name back.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "learner" => RoleBucket::Learner,
            "instructor" => RoleBucket::Instructor,
            "teaching-assistant" => RoleBucket::TeachingAssistant,
            "content-developer" => RoleBucket::ContentDeveloper,
            "mentor" => RoleBucket::Mentor,
            "administrator" => RoleBucket::Administrator,
            "other" => RoleBucket::Other,
            _ => return None,
        })
    }
}

/// The roles of the user in the launch context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Roles {
    /// The bucket reports count the launch under.
    pub bucket: RoleBucket,
    /// The role values exactly as the platform sent them (split if sent comma-separated).
    pub raw: Vec<String>,
    /// The LTI `TestUser` role (or a platform's preview/student-view user) was present: reports
    /// exclude such launches unless asked to include them.
    pub test_user: bool,
}

impl Default for Roles {
    fn default() -> Self {
        Roles {
            bucket: RoleBucket::Other,
            raw: Vec::new(),
            test_user: false,
        }
    }
}
