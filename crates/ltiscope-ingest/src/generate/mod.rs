//! Realistic synthetic launch streams in the exact wire formats the parsers read (Blackboard
//! Caliper `LTIEvent`, Brightspace Data Streams xAPI, IMS Caliper 1.2 `ToolLaunchEvent`), for
//! demos, tests and benchmarks. Deterministic per seed.
//!
//! The world: a few dozen tools with Zipf-like popularity; courses of log-normal size, each
//! using a handful of tools; students vastly outnumbering instructors; launches spread over a
//! term with a weekday/daytime rhythm; Blackboard and Caliper returns after a log-normal time in
//! tool. Optional shares of exact duplicates (sender retries), malformed events and non-LTI
//! events (the firehose).

mod rng;
mod wire;

pub use rng::{Rng, Weighted};

use chrono::{Datelike, Duration, Timelike};
use ltiscope_model::Timestamp;

/// Which platform's wire format to emit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Platform {
    /// Blackboard Learn Caliper `LTIEvent`s (launch and return).
    Blackboard,
    /// Brightspace Data Streams xAPI `launched` events.
    Brightspace,
    /// IMS Caliper 1.2 `ToolLaunchEvent`s (Launched and Returned).
    Caliper,
    /// All three, as one institution running both LMSs plus a Caliper-emitting platform.
    Mixed,
}

/// What to generate.
#[derive(Debug, Clone)]
pub struct Options {
    /// Platform format(s).
    pub platform: Platform,
    /// Number of launches (returns, duplicates, malformed and non-LTI events come on top).
    pub launches: u64,
    /// PRNG seed.
    pub seed: u64,
    /// First day of the term.
    pub start: Timestamp,
    /// Length of the term in days.
    pub days: u32,
    /// Share of events re-sent as exact duplicates.
    pub duplicate_rate: f64,
    /// Share of events emitted malformed (to be quarantined).
    pub malformed_rate: f64,
    /// Non-LTI firehose events per launch (Blackboard SessionEvents, BDS logins).
    pub non_lti_rate: f64,
    /// Share of Blackboard/Caliper launches followed by a return event.
    pub return_rate: f64,
}

impl Options {
    /// Defaults: a 15-week term starting 2026-01-12, no duplicates or malformed events, 5%
    /// non-LTI events, 75% of launches returned.
    pub fn new(platform: Platform, launches: u64, seed: u64) -> Self {
        Options {
            platform,
            launches,
            seed,
            start: chrono::DateTime::from_timestamp(1_768_176_000, 0).unwrap_or_default(),
            days: 105,
            duplicate_rate: 0.0,
            malformed_rate: 0.0,
            non_lti_rate: 0.05,
            return_rate: 0.75,
        }
    }
}

/// A tool of the synthetic world.
#[derive(Debug, Clone)]
pub(crate) struct Tool {
    pub url: String,
    pub consumer_key: String,
    pub client_id: String,
    pub deployment_id: String,
    pub provider_id: u32,
    pub lti13: bool,
    /// Median minutes spent in the tool.
    pub median_minutes: f64,
}

/// A person of the synthetic world.
#[derive(Debug, Clone)]
pub(crate) struct Person {
    pub pk: u32,
    pub uuid: String,
    pub external_id: String,
}

/// A course with its members and the tools it uses.
#[derive(Debug, Clone)]
pub(crate) struct Course {
    pub pk: u32,
    pub uuid: String,
    pub label: String,
    pub title: String,
    pub learners: Vec<usize>,
    pub instructors: Vec<usize>,
    pub assistants: Vec<usize>,
    pub tools: Vec<usize>,
    pub tool_weights: Weighted,
}

/// The tenants (one per platform) and everything in them.
#[derive(Debug, Clone)]
pub(crate) struct World {
    pub bb_site: String,
    pub bds_tenant: String,
    pub caliper_platform: String,
    pub tools: Vec<Tool>,
    pub people: Vec<Person>,
    pub courses: Vec<Course>,
    pub course_weights: Weighted,
}

/// Tool launch hosts: catalogue vendors first (the popular end), then institution-hosted tools.
const TOOL_URLS: &[&str] = &[
    "https://api.turnitin.com/lti/1p3/launch",
    "https://kaf.kaltura.com/lti/launch",
    "https://university.hosted.panopto.com/Panopto/LTI/LTI.aspx",
    "https://applications.zoom.us/lti/rich",
    "https://lti.h5p.com/lti/launch",
    "https://mylabmastering.pearson.com/lti/launch",
    "https://connect.mheducation.com/lti/launch",
    "https://www.gradescope.com/auth/lti/callback",
    "https://piazza.com/connect",
    "https://edstem.org/api/lti/login",
    "https://app.perusall.com/lti/launch",
    "https://lms.hypothes.is/lti_launches",
    "https://voicethread.com/lti/launch",
    "https://university.yuja.com/LTI/Launch",
    "https://echo360.org/lti/launch",
    "https://padlet.com/lti/launch",
    "https://www.mentimeter.com/lti/launch",
    "https://app.tophat.com/lti/launch",
    "https://www.labster.com/lti/launch",
    "https://ng.cengage.com/static/lti/launch",
    "https://www.webassign.net/v4cgi/lti/launch",
    "https://education.wiley.com/lti/launch",
    "https://achieve.macmillanlearning.com/lti/launch",
    "https://getproctorio.com/lti/launch",
    "https://app.honorlock.com/lti/launch",
    "https://api.respondus.com/lti/launch",
    "https://app.feedbackfruits.com/lti/launch",
    "https://www.linkedin.com/learning/lti/launch",
    "https://bc.vitalsource.com/lti/launch",
    "https://app.packback.co/lti/launch",
    "https://app.nearpod.com/lti/launch",
    "https://edpuzzle.com/lti/launch",
    "https://library.example.edu/reserves/lti",
    "https://lti.engineering.example.edu/labs/launch",
    "https://quiz-tool.example-vendor.co.uk/lti/launch",
    "https://writing-center.example.edu/lti",
];

const SUBJECTS: &[&str] = &[
    "BIO", "CHEM", "PHYS", "MATH", "ENG", "HIST", "PSYC", "ECON", "CS", "NURS", "ART", "MUS",
    "SOC", "PHIL", "STAT", "BUS",
];

impl World {
    fn new(rng: &mut Rng, launches: u64) -> Self {
        let tools: Vec<Tool> = TOOL_URLS
            .iter()
            .enumerate()
            .map(|(i, url)| Tool {
                url: (*url).to_owned(),
                consumer_key: format!("key-{:04}", 1000 + i),
                client_id: format!("{}", 10_000 + i * 37),
                deployment_id: rng.uuid(),
                provider_id: 100 + i as u32,
                lti13: i % 3 != 2,
                median_minutes: 2.0 + rng.f64() * 18.0,
            })
            .collect();
        let tool_pop = Weighted::zipf(tools.len(), 1.1);
        // About one course per 400 launches, bounded for tiny and huge runs.
        let n_courses = (launches / 400).clamp(12, 4000) as usize;
        let mut people = Vec::new();
        let person = |rng: &mut Rng, people: &mut Vec<Person>, prefix: &str| {
            let n = people.len();
            people.push(Person {
                pk: 1000 + n as u32,
                uuid: rng.hex32(),
                external_id: format!("{prefix}{n:06}"),
            });
            n
        };
        // A pool of students shared between courses (students take several courses).
        let n_students = (n_courses * 30).max(50);
        let students: Vec<usize> = (0..n_students)
            .map(|_| person(rng, &mut people, "stu"))
            .collect();
        let mut courses = Vec::with_capacity(n_courses);
        for c in 0..n_courses {
            let size = rng.lognormal(35.0, 0.7).clamp(5.0, 400.0) as usize;
            let learners = (0..size)
                .map(|_| students[rng.below(students.len())])
                .collect();
            let instructors = (0..1 + rng.below(2))
                .map(|_| person(rng, &mut people, "fac"))
                .collect();
            let assistants = (0..rng.below(3))
                .map(|_| person(rng, &mut people, "ta"))
                .collect();
            let n_tools = 2 + rng.below(7);
            let mut course_tools: Vec<usize> = Vec::new();
            while course_tools.len() < n_tools {
                let t = tool_pop.pick(rng);
                if !course_tools.contains(&t) {
                    course_tools.push(t);
                }
            }
            let tool_weights = Weighted::zipf(course_tools.len(), 0.8);
            let subject = SUBJECTS[rng.below(SUBJECTS.len())];
            let number = 100 + rng.below(400);
            courses.push(Course {
                pk: 40 + c as u32,
                uuid: rng.uuid(),
                label: format!("{subject}-{number}-{:02}", 1 + c % 7),
                title: format!("{subject} {number} Section {:02}", 1 + c % 7),
                learners,
                instructors,
                assistants,
                tools: course_tools,
                tool_weights,
            });
        }
        let course_weights = Weighted::new(courses.iter().map(|c| c.learners.len() as f64));
        World {
            bb_site: rng.uuid(),
            bds_tenant: rng.uuid(),
            caliper_platform: "https://lms.example.edu".to_owned(),
            tools,
            people,
            courses,
            course_weights,
        }
    }
}

/// The relative launch intensity of each hour of the term: weekdays over weekends, days over
/// nights, with an evening study peak.
fn hour_weights(start: Timestamp, days: u32) -> Weighted {
    const HOUR: [f64; 24] = [
        0.15, 0.08, 0.04, 0.03, 0.03, 0.05, 0.15, 0.35, 0.7, 1.0, 1.1, 1.1, 1.0, 1.05, 1.1, 1.05,
        0.9, 0.75, 0.7, 0.8, 0.85, 0.75, 0.5, 0.3,
    ];
    Weighted::new((0..days as i64 * 24).map(|h| {
        let t = start + Duration::hours(h);
        let day = match t.weekday().num_days_from_monday() {
            0..=3 => 1.0,
            4 => 0.8,
            5 => 0.35,
            _ => 0.55,
        };
        day * HOUR[t.hour() as usize]
    }))
}

/// Who launches: a role and a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    Learner,
    Instructor,
    Assistant,
}

/// One generated launch, before it is put into a wire format.
#[derive(Debug, Clone)]
pub(crate) struct Launch {
    pub platform: Platform,
    pub time: Timestamp,
    pub course: usize,
    pub person: usize,
    pub role: Role,
    pub tool: usize,
    pub test_user: bool,
    pub minutes_in_tool: Option<f64>,
}

/// Streams generated events, one JSON document per item (a line of JSON Lines).
pub struct Generator {
    opts: Options,
    rng: Rng,
    world: World,
    hours: Weighted,
    next: u64,
    pending: std::collections::VecDeque<String>,
    held_duplicates: Vec<String>,
    /// The previous launch: people often click the same link again a few minutes later
    /// (the tool did not load, they closed the tab), which reports count as one visit.
    last: Option<Launch>,
}

/// Share of launches that repeat the previous one (same person, link and tool) minutes later.
const REPEAT_RATE: f64 = 0.12;

impl Generator {
    /// A generator for `opts`.
    pub fn new(opts: Options) -> Self {
        let mut rng = Rng::new(opts.seed);
        let world = World::new(&mut rng, opts.launches);
        let hours = hour_weights(opts.start, opts.days.max(1));
        Generator {
            opts,
            rng,
            world,
            hours,
            next: 0,
            pending: Default::default(),
            held_duplicates: Vec::new(),
            last: None,
        }
    }

    fn launch(&mut self, i: u64) -> Launch {
        let launch = match self.last.take() {
            Some(prev) if self.rng.chance(REPEAT_RATE) => {
                let minutes = self.rng.lognormal(2.0, 0.8).clamp(0.2, 9.0);
                let minutes_in_tool = prev.minutes_in_tool.map(|_| {
                    self.rng
                        .lognormal(self.world.tools[prev.tool].median_minutes, 0.9)
                        .clamp(0.1, 240.0)
                });
                Launch {
                    time: prev.time + Duration::milliseconds((minutes * 60_000.0) as i64),
                    minutes_in_tool,
                    ..prev
                }
            }
            _ => self.fresh_launch(i),
        };
        self.last = Some(launch.clone());
        launch
    }

    fn fresh_launch(&mut self, i: u64) -> Launch {
        let rng = &mut self.rng;
        // The i-th launch sits at quantile (i + u)/n of the term's intensity: launches come out
        // in time order with the weekly rhythm.
        let q = (i as f64 + rng.f64()) / self.opts.launches.max(1) as f64;
        let hour = self.hours.at(q * self.hours.total());
        let time = self.opts.start
            + Duration::hours(hour as i64)
            + Duration::milliseconds((rng.f64() * 3_600_000.0) as i64);
        let course_i = self.world.course_weights.pick(rng);
        let course = &self.world.courses[course_i];
        let tool = course.tools[course.tool_weights.pick(rng)];
        // Instructors launch far more often per head, but students outnumber them.
        let r = rng.f64();
        let (role, person) = if r < 0.08 {
            (
                Role::Instructor,
                course.instructors[rng.below(course.instructors.len())],
            )
        } else if r < 0.11 && !course.assistants.is_empty() {
            (
                Role::Assistant,
                course.assistants[rng.below(course.assistants.len())],
            )
        } else {
            (
                Role::Learner,
                course.learners[rng.below(course.learners.len())],
            )
        };
        let platform = match self.opts.platform {
            Platform::Mixed => match rng.below(20) {
                0..=8 => Platform::Blackboard,
                9..=17 => Platform::Brightspace,
                _ => Platform::Caliper,
            },
            p => p,
        };
        let test_user = rng.chance(0.003);
        let minutes_in_tool =
            (platform != Platform::Brightspace && rng.chance(self.opts.return_rate)).then(|| {
                rng.lognormal(self.world.tools[tool].median_minutes, 0.9)
                    .clamp(0.1, 240.0)
            });
        Launch {
            platform,
            time,
            course: course_i,
            person,
            role,
            tool,
            test_user,
            minutes_in_tool,
        }
    }

    fn fill(&mut self) {
        let i = self.next;
        self.next += 1;
        let launch = self.launch(i);
        let mut docs = wire::render(&launch, &self.world, &mut self.rng);
        if self.rng.chance(self.opts.non_lti_rate) {
            docs.push(wire::non_lti(&launch, &self.world, &mut self.rng));
        }
        for doc in docs {
            let doc = if self.rng.chance(self.opts.malformed_rate) {
                wire::malform(doc, &mut self.rng)
            } else {
                doc
            };
            // A retry arrives a little later than the original, as senders do.
            if self.rng.chance(self.opts.duplicate_rate) {
                self.held_duplicates.push(doc.clone());
            }
            self.pending.push_back(doc);
        }
        if self.held_duplicates.len() >= 8 || (self.next >= self.opts.launches) {
            self.pending.extend(self.held_duplicates.drain(..));
        }
    }
}

impl Iterator for Generator {
    type Item = String;

    fn next(&mut self) -> Option<String> {
        while self.pending.is_empty() {
            if self.next >= self.opts.launches {
                return None;
            }
            self.fill();
        }
        self.pending.pop_front()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_stream_other_seed_other_stream() {
        let a: Vec<String> = Generator::new(Options::new(Platform::Mixed, 50, 7)).collect();
        let b: Vec<String> = Generator::new(Options::new(Platform::Mixed, 50, 7)).collect();
        let c: Vec<String> = Generator::new(Options::new(Platform::Mixed, 50, 8)).collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert!(a.len() >= 50);
    }
}
