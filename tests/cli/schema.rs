//! The schema from real QEMU: every command resolves, blockdev-add's unions
//! and alternates come out right, and the --list/--describe options.

use std::collections::BTreeSet;
use std::time::Duration;

use qmp::schema::{Schema, Type, describe};
use qmp::{Address, Client, Options};
use serde_json::{Map, Value, json};

use crate::qemu::Qemu;
use crate::util::{exec, tool};

fn fetch(q: &Qemu) -> Schema {
    let address = Address::Unix(q.sock().to_path_buf());
    let options = Options {
        timeout: Duration::from_secs(30),
        ..Default::default()
    };
    let mut client = Client::connect(&address, &options).unwrap();
    Schema::fetch(&mut client).unwrap()
}

/// Every member of every object `ty` reaches resolves to a defined type.
fn all_resolve(s: &Schema, ty: &str, seen: &mut BTreeSet<String>) {
    if !seen.insert(ty.to_string()) {
        return;
    }
    match s
        .ty(ty)
        .unwrap_or_else(|| panic!("type {ty} is not defined"))
    {
        Type::Array(e) => all_resolve(s, e, seen),
        Type::Alternate(b) => b.iter().for_each(|b| all_resolve(s, b, seen)),
        Type::Object(o) => {
            for m in &o.members {
                all_resolve(s, &m.ty, seen);
            }
            for (_, v) in &o.variants {
                all_resolve(s, v, seen);
            }
        }
        _ => {}
    }
}

fn check_server(q: &Qemu) -> Schema {
    let s = fetch(q);
    // Read straight from the reply's bytes (`Schema::fetch`) and from a
    // Value of the same reply (`Schema::from_value`): the same schema.
    let address = Address::Unix(q.sock().to_path_buf());
    let options = Options {
        timeout: Duration::from_secs(30),
        ..Default::default()
    };
    let value = Client::connect(&address, &options)
        .unwrap()
        .execute("query-qmp-schema", None)
        .unwrap();
    assert!(
        Schema::from_value(&value).unwrap() == s,
        "the two readings differ"
    );
    let mut seen = BTreeSet::new();
    for name in s.commands() {
        let c = s.command(name).unwrap();
        assert!(
            s.as_object(&c.arg_type).is_some(),
            "{name}: arguments are not an object"
        );
        all_resolve(&s, &c.arg_type, &mut seen);
        all_resolve(&s, &c.ret_type, &mut seen);
        assert!(describe::command(&s, name).is_some());
    }
    // --list (query-commands) names the same commands as the schema.
    let listed = exec(q.sock(), &["--list"]).ok().stdout;
    let listed: Vec<&str> = listed.lines().collect();
    assert_eq!(listed, s.commands().collect::<Vec<_>>());
    // blockdev-add: a union on driver; raw's file is an alternate of
    // blockdev-add's own options and a node name.
    let add = &s.command("blockdev-add").unwrap().arg_type;
    let (tag, cases) = s.tag(add).unwrap();
    assert_eq!(tag, "driver");
    for case in ["file", "raw", "qcow2", "null-co", "blkdebug", "throttle"] {
        assert!(cases.contains(&case), "{case} not in {cases:?}");
    }
    let given: Map<String, Value> = json!({"driver": "qcow2", "file": {"driver": "file"}})
        .as_object()
        .unwrap()
        .clone();
    let ty = |path: &str| {
        let path: Vec<String> = path.split('.').map(String::from).collect();
        s.member_type(add, &path, Some(&given)).map(str::to_string)
    };
    assert_eq!(ty("node-name").as_deref(), Some("str"));
    assert_eq!(ty("read-only").as_deref(), Some("bool"));
    assert_eq!(ty("file.filename").as_deref(), Some("str"));
    assert_eq!(ty("file.aio-max-batch").as_deref(), Some("int"));
    let Some(Type::Alternate(branches)) = s.ty(&ty("file").unwrap()) else {
        panic!("qcow2's file is not an alternate");
    };
    assert!(branches.iter().any(|b| b == "str") && branches.iter().any(|b| b == add));
    let Some(Type::Enum(values)) = s.ty(&ty("file.aio").unwrap()) else {
        panic!("file's aio is not an enum");
    };
    assert!(values.iter().any(|v| v == "io_uring") || values.iter().any(|v| v == "native"));
    s
}

#[test]
fn resolves_every_command_on_qemu_storage_daemon() {
    let Some(q) = Qemu::qsd(&[]) else { return };
    let s = check_server(&q);
    assert!(s.command("human-monitor-command").is_none());
}

#[test]
fn resolves_every_command_on_q35() {
    let Some(q) = Qemu::q35() else { return };
    let s = check_server(&q);
    // The transaction's actions: a list of a union on type whose variants
    // wrap the action's arguments in data.
    let tr = &s.command("transaction").unwrap().arg_type;
    let actions = s.member_type(tr, &["actions".to_string()], None).unwrap();
    let Some(Type::Array(action)) = s.ty(actions) else {
        panic!("actions is not a list");
    };
    let given: Map<String, Value> = json!({"type": "blockdev-snapshot-sync"})
        .as_object()
        .unwrap()
        .clone();
    let p: Vec<String> = ["data", "snapshot-file"].map(String::from).to_vec();
    assert_eq!(s.member_type(action, &p, Some(&given)), Some("str"));
    let p: Vec<String> = ["data", "mode"].map(String::from).to_vec();
    let mode = s.member_type(action, &p, Some(&given)).unwrap();
    assert!(matches!(s.ty(mode), Some(Type::Enum(v)) if v.iter().any(|n| n == "existing")));
}

#[test]
fn list_and_describe_commands_and_events() {
    let Some(q) = Qemu::qsd(&[]) else { return };
    let out = exec(q.sock(), &["--describe", "blockdev-add"]).ok().stdout;
    for line in [
        "blockdev-add\n  arguments:\n    driver: enum (",
        "\n    node-name: str (optional)\n",
        "\n    when driver=file:\n      filename: str\n",
        "\n  returns: nothing ({})\n",
    ] {
        assert!(out.contains(line), "{line:?} not in\n{out}");
    }
    let d = exec(q.sock(), &["--describe", "query-block-jobs", "--json"])
        .ok()
        .json();
    assert_eq!(d["command"], "query-block-jobs");
    assert_eq!(d["returns"]["type"], "array");
    assert_eq!(d["returns"]["of"]["type"], "object");
    exec(q.sock(), &["--describe", "no-such-command"])
        .status(1)
        .assert_err("qmp-exec: this server has no command 'no-such-command' (qmp-exec --list names those it has)");
    let names = exec(q.sock(), &["--list", "--json"]).ok().json();
    assert!(names.as_array().unwrap().contains(&json!("blockdev-add")));
    let events = tool("qmp-events", q.sock(), &["--list"]).ok().stdout;
    assert!(
        events.lines().any(|l| l == "BLOCK_JOB_COMPLETED"),
        "{events}"
    );
    let d = tool("qmp-events", q.sock(), &["--describe", "JOB_STATUS_CHANGE"])
        .ok()
        .stdout;
    assert!(d.starts_with("JOB_STATUS_CHANGE\n  data:\n    id: str\n    status: enum (undefined, created, running,"), "{d}");
    tool("qmp-events", q.sock(), &["--describe", "NOPE", "--json"]).status(1);
}

/// Runs the committed bash completion of qmp-exec on `line` (as bash would
/// on Tab at its end), with the binaries on PATH.
fn bash_complete(line: &str, env: &[(&str, &str)]) -> Vec<String> {
    let dir = std::path::Path::new(crate::util::bin("qmp-exec"))
        .parent()
        .unwrap();
    let path = format!(
        "{}:{}",
        dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let script = format!(
        "source {}/completions/qmp-exec.bash; COMP_LINE=\"$LINE\"; COMP_POINT=${{#COMP_LINE}}; \
         _qmp_exec_live qmp-exec x y; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut c = std::process::Command::new("bash");
    c.args(["-c", &script])
        .env("PATH", path)
        .env("LINE", line)
        .env_remove("QMP_SOCKET");
    for (k, v) in env {
        c.env(k, v);
    }
    let out = c.output().unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect()
}

#[test]
fn bash_completion_names_the_servers_commands() {
    let Some(q) = Qemu::qsd(&[]) else { return };
    let sock = q.sock().to_str().unwrap();
    let got = bash_complete(&format!("qmp-exec -s {sock} --timeout 5 blockdev-a"), &[]);
    assert_eq!(got, ["blockdev-add"]);
    let got = bash_complete("qmp-exec --describe query-named", &[("QMP_SOCKET", sock)]);
    assert_eq!(got, ["query-named-block-nodes"]);
    // After the command: the items, not command names.
    let got = bash_complete(&format!("qmp-exec -s {sock} blockdev-add blockdev-a"), &[]);
    assert!(!got.contains(&"blockdev-add".to_string()), "{got:?}");
    // No server: nothing from it (the options still complete).
    let got = bash_complete("qmp-exec -s /nonexistent/qmp.sock blockdev-a", &[]);
    assert!(got.is_empty(), "{got:?}");
}
