//! Documentation that must not drift from the code: man pages (options and
//! exit statuses), shell completions, --help examples.

use std::collections::BTreeSet;
use std::path::Path;

use crate::util::Cmd;

const BINS: [&str; 10] = [
    "qmp-exec",
    "qmp-events",
    "qmp-shell",
    "qom-get",
    "qom-set",
    "qom-list",
    "qom-tree",
    "qom-fuse",
    "qga-exec",
    "qga-run",
];

/// The exit statuses `bin`'s man page lists: the tools' one table, except
/// for qga-run, which exits with its program's status and has a table of
/// its own outcomes.
fn exit_table(bin: &str) -> Vec<(String, String)> {
    if bin == "qga-run" {
        return qmp::cli::agent::RUN_STATUSES
            .iter()
            .map(|(s, text)| (s.to_string(), text.to_string()))
            .collect();
    }
    qmp::cli::EXIT_STATUSES
        .iter()
        .map(|(s, text)| ((*s as u8).to_string(), text.to_string()))
        .collect()
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The lines of section `name` of a roff page.
fn section<'a>(page: &'a str, name: &str) -> Vec<&'a str> {
    let head = format!(".SH {name}");
    page.lines()
        .skip_while(|l| *l != head)
        .skip(1)
        .take_while(|l| !l.starts_with(".SH "))
        .collect()
}

/// Options as `--help` lists them: long names, and short letters.
fn help_options(help: &str) -> (BTreeSet<String>, BTreeSet<char>) {
    let (mut long, mut short) = (BTreeSet::new(), BTreeSet::new());
    for line in help
        .lines()
        .map(str::trim_start)
        .filter(|l| l.starts_with('-'))
    {
        for word in line.split([' ', ',']) {
            if let Some(name) = word.strip_prefix("--") {
                // `--job[=<UNTIL>]`: an optional value.
                let name = name.split('[').next().unwrap_or(name);
                long.insert(name.to_string());
            } else if let Some(c) = word.strip_prefix('-').filter(|w| w.len() == 1) {
                short.insert(c.chars().next().unwrap());
            }
        }
    }
    (long, short)
}

/// Options as the OPTIONS section of a page names them in its `.TP` tags.
fn page_options(page: &str) -> (BTreeSet<String>, BTreeSet<char>) {
    let lines = section(page, "OPTIONS");
    let tags = lines
        .iter()
        .zip(lines.iter().skip(1))
        .filter(|(l, _)| **l == ".TP")
        .map(|(_, tag)| *tag);
    let (mut long, mut short) = (BTreeSet::new(), BTreeSet::new());
    for tag in tags {
        let plain = tag.replace("\\-", "-").replace(['"', ','], " ");
        for word in plain.split_whitespace() {
            if let Some(name) = word.strip_prefix("--") {
                long.insert(name.to_string());
            } else if let Some(c) = word.strip_prefix('-').filter(|w| w.len() == 1) {
                short.insert(c.chars().next().unwrap());
            }
        }
    }
    (long, short)
}

#[test]
fn man_pages_list_exactly_the_options_clap_knows() {
    for bin in BINS {
        let help = Cmd::new(bin).arg("--help").ok().stdout;
        let page = std::fs::read_to_string(root().join(format!("man/{bin}.1"))).unwrap();
        assert_eq!(
            page_options(&page),
            help_options(&help),
            "man/{bin}.1 OPTIONS vs {bin} --help"
        );
        for s in [
            "NAME",
            "SYNOPSIS",
            "DESCRIPTION",
            "OPTIONS",
            "ENVIRONMENT",
            "EXIT STATUS",
            "EXAMPLES",
            "SEE ALSO",
        ] {
            assert!(
                page.contains(&format!("\n.SH {s}\n")),
                "man/{bin}.1 lacks {s}"
            );
        }
    }
}

#[test]
fn man_pages_exit_status_is_the_library_table() {
    let pages = BINS
        .iter()
        .map(|b| (format!("man/{b}.1"), exit_table(b)))
        .chain([("man/qmp-tools.7".to_string(), exit_table("qmp-exec"))]);
    for (page, want) in pages {
        let text = std::fs::read_to_string(root().join(&page)).unwrap();
        let lines = section(&text, "EXIT STATUS");
        let mut got = Vec::new();
        for w in lines.windows(3) {
            if w[0] == ".TP"
                && let Some(n) = w[1].strip_prefix(".B ")
            {
                got.push((n.to_string(), w[2].to_string()));
            }
        }
        assert_eq!(got, want, "{page} EXIT STATUS");
    }
}

#[test]
fn completions_are_current() {
    for bin in BINS {
        for (shell, file) in [
            ("bash", format!("{bin}.bash")),
            ("zsh", format!("_{bin}")),
            ("fish", format!("{bin}.fish")),
        ] {
            let now = Cmd::new(bin)
                .args(&["--generate", &format!("complete-{shell}")])
                .ok()
                .stdout;
            let committed =
                std::fs::read_to_string(root().join("completions").join(&file)).unwrap_or_default();
            assert!(
                now == committed,
                "completions/{file} is out of date: run make completions"
            );
        }
    }
}

#[test]
fn help_ends_with_examples() {
    for bin in BINS {
        let help = Cmd::new(bin).arg("--help").ok().stdout;
        let examples: Vec<&str> = help
            .lines()
            .skip_while(|l| *l != "Examples:")
            .skip(1)
            .collect();
        assert!(
            examples.len() >= 2,
            "{bin} --help should end with examples:\n{help}"
        );
        assert!(
            examples.iter().all(|l| l.starts_with("  ")),
            "{bin}: {examples:?}"
        );
        let short = Cmd::new(bin).arg("-h").ok().stdout;
        assert!(short.contains("Examples:"), "{bin} -h shows examples too");
    }
}

#[test]
fn baseline_flags_of_every_binary() {
    for bin in BINS {
        let v = Cmd::new(bin).arg("--version").ok();
        v.assert_stdout(&format!("{bin} {}\n", env!("CARGO_PKG_VERSION")));
        // qga-run's own failures are 125 (its program's statuses are the rest).
        let usage = if bin == "qga-run" { 125 } else { 2 };
        Cmd::new(bin)
            .arg("--no-such-flag")
            .status(usage)
            .assert_err_has(
                &format!("{bin}: unexpected argument '--no-such-flag' found"),
                &format!("try '{bin} --help'"),
            );
        // No address at all is a usage error that says how to give one.
        let needs_args: &[&str] = match bin {
            "qom-get" => &["/machine.type"],
            "qom-set" => &["/machine.graphics", "true"],
            "qom-fuse" => &["mnt"],
            "qmp-exec" => &["query-status"],
            "qga-exec" => &["guest-ping"],
            "qga-run" => &["true"],
            _ => &[],
        };
        let said = if bin.starts_with("qga-") {
            format!(
                "{bin}: no guest agent address: give -s/--socket ADDR or set QGA_SOCKET (ADDR: PATH, unix:PATH, unix:@NAME, HOST:PORT, tcp:HOST:PORT, [IPV6]:PORT or listen:ADDR; QMP_SOCKET is the monitor's, not the agent's)"
            )
        } else {
            format!(
                "{bin}: no monitor address: give -s/--socket ADDR or set QMP_SOCKET (ADDR: PATH, unix:PATH, unix:@NAME, HOST:PORT, tcp:HOST:PORT, [IPV6]:PORT or listen:ADDR)"
            )
        };
        Cmd::new(bin)
            .args(needs_args)
            .status(usage)
            .assert_err(&said);
    }
}

#[test]
fn man_pages_are_clean_roff() {
    let pages = BINS
        .iter()
        .map(|b| format!("man/{b}.1"))
        .chain(["man/qmp-tools.7".to_string()]);
    for page in pages {
        let path = root().join(&page);
        let Ok(out) = std::process::Command::new("groff")
            .args(["-ww", "-z", "-man"])
            .arg(&path)
            .output()
        else {
            eprintln!("SKIPPED: groff is not installed");
            return;
        };
        let complaints = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && complaints.is_empty(),
            "groff -ww -z {page}:\n{complaints}"
        );
    }
}
