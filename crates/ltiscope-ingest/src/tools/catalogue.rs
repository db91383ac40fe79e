//! The built-in catalogue of well-known LTI tools, recognised by the domain of their launch URL.
//! Each entry is (domain, tool id, display name); a host matches a domain when it is the domain
//! or one of its subdomains. Institutions add or override entries with rules in the config file.

/// Well-known LTI tools and vendors by launch domain.
pub const CATALOGUE: &[(&str, &str, &str)] = &[
    ("turnitin.com", "turnitin", "Turnitin"),
    ("turnitinuk.com", "turnitin", "Turnitin"),
    ("kaltura.com", "kaltura", "Kaltura"),
    ("panopto.com", "panopto", "Panopto"),
    ("panopto.eu", "panopto", "Panopto"),
    ("zoom.us", "zoom", "Zoom"),
    ("h5p.com", "h5p", "H5P"),
    ("pearson.com", "pearson", "Pearson MyLab & Mastering"),
    ("pearsoncmg.com", "pearson", "Pearson MyLab & Mastering"),
    ("mheducation.com", "mcgraw-hill", "McGraw Hill Connect"),
    ("aleks.com", "aleks", "ALEKS"),
    ("cengage.com", "cengage", "Cengage MindTap"),
    ("webassign.net", "webassign", "WebAssign"),
    ("wiley.com", "wiley", "Wiley"),
    ("wileyplus.com", "wiley", "Wiley"),
    ("macmillanlearning.com", "macmillan", "Macmillan Achieve"),
    ("respondus.com", "respondus", "Respondus"),
    ("proctorio.com", "proctorio", "Proctorio"),
    ("honorlock.com", "honorlock", "Honorlock"),
    ("examity.com", "examity", "Examity"),
    ("proctoru.com", "proctoru", "ProctorU"),
    ("gradescope.com", "gradescope", "Gradescope"),
    ("piazza.com", "piazza", "Piazza"),
    ("edstem.org", "ed-discussion", "Ed Discussion"),
    ("perusall.com", "perusall", "Perusall"),
    ("hypothes.is", "hypothesis", "Hypothesis"),
    ("voicethread.com", "voicethread", "VoiceThread"),
    ("yuja.com", "yuja", "YuJa"),
    ("echo360.com", "echo360", "Echo360"),
    ("echo360.org", "echo360", "Echo360"),
    ("echo360.org.uk", "echo360", "Echo360"),
    ("flip.com", "flip", "Flip"),
    ("flipgrid.com", "flip", "Flip"),
    ("padlet.com", "padlet", "Padlet"),
    ("mentimeter.com", "mentimeter", "Mentimeter"),
    ("polleverywhere.com", "poll-everywhere", "Poll Everywhere"),
    ("tophat.com", "top-hat", "Top Hat"),
    ("iclicker.com", "iclicker", "iClicker"),
    ("labster.com", "labster", "Labster"),
    ("packback.co", "packback", "Packback"),
    ("feedbackfruits.com", "feedbackfruits", "FeedbackFruits"),
    ("microsoft.com", "microsoft-365", "Microsoft 365 / Teams"),
    ("office.com", "microsoft-365", "Microsoft 365 / Teams"),
    ("google.com", "google-assignments", "Google Assignments"),
    ("box.com", "box", "Box"),
    ("linkedin.com", "linkedin-learning", "LinkedIn Learning"),
    ("vitalsource.com", "vitalsource", "VitalSource"),
    ("redshelf.com", "redshelf", "RedShelf"),
    ("bongolearn.com", "bongo", "Bongo"),
    ("mediasite.com", "mediasite", "Mediasite"),
    ("sonicfoundry.com", "mediasite", "Mediasite"),
    ("warpwire.com", "warpwire", "Warpwire"),
    ("lumenlearning.com", "lumen", "Lumen Learning"),
    ("labarchives.com", "labarchives", "LabArchives"),
    ("qualtrics.com", "qualtrics", "Qualtrics"),
    ("nearpod.com", "nearpod", "Nearpod"),
    ("edpuzzle.com", "edpuzzle", "Edpuzzle"),
    ("mathworks.com", "matlab-grader", "MATLAB Grader"),
    ("codio.com", "codio", "Codio"),
    ("zybooks.com", "zybooks", "zyBooks"),
    ("studiosity.com", "studiosity", "Studiosity"),
    ("unicheck.com", "unicheck", "Unicheck"),
    ("ouriginal.com", "ouriginal", "Ouriginal"),
    (
        "bbcollaborate.com",
        "blackboard-collaborate",
        "Blackboard Collaborate",
    ),
    ("webex.com", "webex", "Webex"),
    ("screenpal.com", "screenpal", "ScreenPal"),
    ("goreact.com", "goreact", "GoReact"),
    ("kritik.io", "kritik", "Kritik"),
    ("knewton.com", "knewton-alta", "Knewton Alta"),
    ("inscribeapp.com", "inscribe", "InScribe"),
    ("vimeo.com", "vimeo", "Vimeo"),
    ("youtube.com", "youtube", "YouTube"),
];

/// The catalogue by domain (a later entry for the same domain wins).
static BY_DOMAIN: std::sync::LazyLock<
    std::collections::HashMap<&'static str, (&'static str, &'static str)>,
> = std::sync::LazyLock::new(|| {
    CATALOGUE
        .iter()
        .map(|(domain, id, name)| (*domain, (*id, *name)))
        .collect()
});

/// The catalogue entry for a host, if any: the longest matching domain wins, so a specific
/// subdomain entry can override its parent. The host and then each parent domain of it (the
/// part after each dot) is looked up in turn, longest first: a few hash lookups per launch
/// instead of testing every entry (2.6% of a parse worker's samples).
pub fn lookup(host: &str) -> Option<(&'static str, &'static str)> {
    let mut domain = host;
    loop {
        if let Some(hit) = BY_DOMAIN.get(domain) {
            return Some(*hit);
        }
        domain = domain.split_once('.')?.1;
    }
}

/// True when `host` is `domain` or a subdomain of it.
pub(crate) fn host_in_domain(host: &str, domain: &str) -> bool {
    host == domain
        || (host.len() > domain.len()
            && host.ends_with(domain)
            && host.as_bytes()[host.len() - domain.len() - 1] == b'.')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn has_at_least_forty_distinct_tools() {
        let mut ids: Vec<_> = CATALOGUE.iter().map(|(_, id, _)| *id).collect();
        ids.sort_unstable();
        ids.dedup();
        assert!(ids.len() >= 40, "only {} tools", ids.len());
    }

    #[test]
    fn subdomains_match_and_lookalikes_do_not() {
        assert_eq!(lookup("api.turnitin.com").map(|t| t.0), Some("turnitin"));
        assert_eq!(lookup("turnitin.com").map(|t| t.0), Some("turnitin"));
        assert_eq!(lookup("notturnitin.com"), None);
    }

    /// The lookup answers what testing every entry answers (its definition), for every
    /// domain, its subdomains, lookalikes and hosts of no tool.
    #[test]
    fn the_lookup_agrees_with_testing_every_entry() {
        let every_entry = |host: &str| {
            CATALOGUE
                .iter()
                .filter(|(domain, _, _)| host_in_domain(host, domain))
                .max_by_key(|(domain, _, _)| domain.len())
                .map(|(_, id, name)| (*id, *name))
        };
        let mut hosts = vec![
            String::new(),
            ".".into(),
            "com".into(),
            "example.edu".into(),
            "lms.example.edu.".into(),
        ];
        for (domain, _, _) in CATALOGUE {
            for host in [
                domain.to_string(),
                format!("a.{domain}"),
                format!("x.y.{domain}"),
                format!("not{domain}"),
                format!("{domain}.evil.example"),
                format!(".{domain}"),
                domain
                    .split_once('.')
                    .map_or(String::new(), |(_, p)| p.to_owned()),
            ] {
                hosts.push(host);
            }
        }
        for host in &hosts {
            assert_eq!(lookup(host), every_entry(host), "{host:?}");
        }
        assert!(hosts.iter().filter(|h| lookup(h).is_some()).count() > 3 * CATALOGUE.len());
    }
}
