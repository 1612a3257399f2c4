//! Who a demo customer is: name, email, phone and time zone, drawn from a small built-in vocabulary.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::customer::{pick, pick_weighted};
use super::time::HOUR;

/// What the customer's first event (and every form they fill in) tells about them.
pub(super) struct Profile {
    pub(super) id: String,
    pub(super) name: String,
    pub(super) email: String,
    pub(super) phone: Option<String>,
    pub(super) timezone: &'static str,
}

#[rustfmt::skip]
const FIRST_NAMES: [&str; 64] = [
    "Olivia", "Amelia", "Isla", "Ava", "Mia", "Ivy", "Lily", "Isabella", "Rosie", "Sophia", "Grace",
    "Freya", "Poppy", "Evie", "Ella", "Charlotte", "Emily", "Hannah", "Zara", "Aisha", "Priya",
    "Niamh", "Sarah", "Chloe", "Ruth", "Megan", "Fatima", "Lucy", "Anna", "Joanne", "Helen", "Maya",
    "Noah", "Oliver", "George", "Arthur", "Leo", "Harry", "Oscar", "Jack", "Charlie", "Jacob",
    "Thomas", "Alfie", "Henry", "Freddie", "James", "William", "Samuel", "Daniel", "Mohammed",
    "Ali", "Ravi", "Owen", "Rhys", "Callum", "Liam", "Ethan", "Ben", "Adam", "David", "Mark",
    "Paul", "Tom",
];

#[rustfmt::skip]
const LAST_NAMES: [&str; 64] = [
    "Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies", "Patel",
    "Robinson", "Wright", "Thompson", "Evans", "Walker", "White", "Roberts", "Green", "Hall",
    "Thomas", "Clarke", "Jackson", "Wood", "Harris", "Edwards", "Turner", "Martin", "Cooper",
    "Hill", "Ward", "Hughes", "Moore", "Clark", "King", "Harrison", "Lewis", "Baker", "Lee",
    "Allen", "Morris", "Khan", "Scott", "Watson", "Davis", "Parker", "James", "Bennett", "Young",
    "Phillips", "Richardson", "Mitchell", "Bailey", "Carter", "Cook", "Singh", "Shaw", "Bell",
    "Collins", "Morgan", "Kelly", "Begum", "Murphy", "Campbell", "Ahmed", "Chen",
];

const EMAIL_DOMAINS: [&str; 3] = ["example.com", "example.net", "example.org"];

/// ((timezone, offset from UTC in seconds, ignoring summer time), weight).
const TIMEZONES: [((&str, i64), u32); 6] = [
    (("Europe/London", 0), 86),
    (("Europe/Dublin", 0), 4),
    (("Europe/Paris", HOUR), 4),
    (("Europe/Berlin", HOUR), 2),
    (("America/New_York", -5 * HOUR), 3),
    (("Australia/Sydney", 10 * HOUR), 1),
];

/// Customer `index`'s profile and local offset from UTC (in seconds).
pub(super) fn profile(index: usize, rng: &mut ChaCha8Rng) -> (Profile, i64) {
    let first = pick(rng, &FIRST_NAMES);
    let last = pick(rng, &LAST_NAMES);
    let (timezone, offset) = pick_weighted(rng, &TIMEZONES);
    let number = index.saturating_add(1);
    let domain = pick(rng, &EMAIL_DOMAINS);
    let (f, l) = (first.to_ascii_lowercase(), last.to_ascii_lowercase());
    // Every pattern ends in the customer number, so emails are unique.
    let email = match rng.gen_range(0..4) {
        0 => format!("{f}.{l}{number}@{domain}"),
        1 => format!("{f}{l}{number}@{domain}"),
        2 => format!("{}.{l}{number}@{domain}", &f[..1]),
        _ => format!("{f}_{l}{number}@{domain}"),
    };
    let phone = if rng.gen_bool(0.6) {
        Some(if offset == -5 * HOUR {
            format!("+1 555 01{:02}", rng.gen_range(0..100))
        } else {
            format!("+44 7700 900{:03}", rng.gen_range(0..1000))
        })
    } else {
        None
    };
    let p = Profile {
        id: format!("cus_{number:06}"),
        name: format!("{first} {last}"),
        email,
        phone,
        timezone,
    };
    (p, offset)
}
