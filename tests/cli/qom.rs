//! qom-get, qom-set, qom-list and qom-tree against real QEMU and a fake
//! server that has qom-list-get.

use serde_json::{Value, json};

use crate::fake::*;
use crate::qemu::{Qemu, version};
use crate::util::tool;

#[test]
fn qom_get_values_of_every_type_as_qemu_prints_them() {
    let Some(q) = Qemu::q35() else { return };
    let s = q.sock();
    let old = version(s) < (10, 0);
    let mut cases = vec![
        ("/machine/peripheral/vblk0.type", "virtio-blk-pci\n"),
        ("vblk0.type", "virtio-blk-pci\n"), // partial path, resolved by QEMU
        ("vblk0.serial", "SN0\n"),
        ("vblk0.realized", "True\n"),
        ("vblk0.hotplugged", "False\n"),
        ("vblk0.queue-size", "256\n"),
        // rombar: 1 by default on QEMU 7.2, -1 (int32) on 10.0.
        ("vblk0.rombar", if old { "1\n" } else { "-1\n" }),
        ("vblk0.iothread", "/objects/io0\n"), // a link<iothread>
        ("vnet0.mac", "52:54:00:12:34:56\n"),
    ];
    if old {
        // A list property, new since 7.2: there, an unknown property.
        tool("qom-get", s, &["vblk0.iothread-vq-mapping"])
            .status(1)
            .assert_err(
                "qom-get: vblk0.iothread-vq-mapping: vblk0 has no property \
                 'iothread-vq-mapping' (qom-list vblk0 lists them)",
            );
    } else {
        cases.push(("vblk0.iothread-vq-mapping", "[]\n"));
    }
    for (prop, want) in cases {
        tool("qom-get", s, &[prop]).ok().assert_stdout(want);
    }
    // A struct: one 'key: value' line per member, as QEMU's tool prints it.
    let rtc = tool("qom-get", s, &["/machine.rtc-time"]).ok();
    let keys: Vec<&str> = rtc
        .stdout
        .lines()
        .map(|l| l.split(": ").next().unwrap())
        .collect();
    assert_eq!(
        keys,
        [
            "tm_year", "tm_sec", "tm_hour", "tm_min", "tm_mon", "tm_mday"
        ],
        "{}",
        rtc.show()
    );
    let j = tool("qom-get", s, &["--json", "/machine.rtc-time"])
        .ok()
        .json();
    assert!(j["tm_year"].as_u64().unwrap() >= 120);
    // Missing object and property: status 1 with QEMU's message.
    tool("qom-get", s, &["/machine/nope.type"])
        .status(1)
        .assert_err("qom-get: DeviceNotFound: Device '/machine/nope' not found");
    tool("qom-get", s, &["vblk0.nope"]).status(1).assert_err(
        "qom-get: vblk0.nope: vblk0 has no property 'nope' (qom-list vblk0 lists them)",
    );
    tool("qom-get", s, &["vblk0"])
        .status(2)
        .assert_err_has("qom-get: ", "expected PATH.PROPERTY");
}

#[test]
fn qom_get_several_pipelined() {
    let Some(q) = Qemu::qsd(&[
        "--object",
        "iothread,id=io0,poll-max-ns=77",
        "--object",
        "throttle-group,id=tg0,x-bps-total=1000",
    ]) else {
        return;
    };
    let s = q.sock();
    let out = tool(
        "qom-get",
        s,
        &[
            "/objects/io0.poll-max-ns",
            "/objects/io0.type",
            "/objects/tg0.x-bps-total",
        ],
    )
    .ok();
    out.assert_stdout("/objects/io0.poll-max-ns: 77\n/objects/io0.type: iothread\n/objects/tg0.x-bps-total: 1000\n");
    let j = tool(
        "qom-get",
        s,
        &["--json", "/objects/io0.poll-max-ns", "/objects/io0.type"],
    )
    .ok()
    .json();
    assert_eq!(
        j,
        json!({"/objects/io0.poll-max-ns": 77, "/objects/io0.type": "iothread"})
    );
    // One failure: reported, the others printed, status 1.
    let out = tool(
        "qom-get",
        s,
        &[
            "/objects/io0.poll-max-ns",
            "/objects/io9.type",
            "/objects/io0.type",
        ],
    )
    .status(1);
    out.assert_stdout("/objects/io0.poll-max-ns: 77\n/objects/io0.type: iothread\n");
    out.assert_err("qom-get: /objects/io9.type: DeviceNotFound: Device '/objects/io9' not found");
    // A struct value (ThrottleLimits) as QEMU's tool prints it.
    let limits = tool("qom-get", s, &["/objects/tg0.limits"]).ok();
    assert!(
        limits.stdout.lines().any(|l| l == "bps-total: 1000"),
        "{}",
        limits.show()
    );
}

#[test]
fn qom_set_int_bool_string_read_back() {
    let Some(q) = Qemu::q35() else { return };
    let s = q.sock();
    let set_get = |prop: &str, value: &[&str], want: &str| {
        let mut args = vec![prop];
        args.extend_from_slice(value);
        tool("qom-set", s, &args).ok().assert_stdout("");
        tool("qom-get", s, &[prop]).ok().assert_stdout(want);
    };
    set_get("/objects/io0.poll-max-ns", &["1000"], "1000\n");
    // A negative number is a value, not an option, and reaches QEMU as a number.
    tool("qom-set", s, &["/objects/io0.poll-grow", "-1"])
        .status(1)
        .assert_err(
            "qom-set: GenericError: poll-grow value must be in range [0, 9223372036854775807]",
        );
    set_get("/machine.graphics", &["false"], "False\n");
    set_get("/machine.graphics", &["true"], "True\n");
    set_get("/machine.firmware", &["bios.bin"], "bios.bin\n");
    set_get("/machine.firmware", &["--string", "42"], "42\n");
    let j = tool("qom-get", s, &["--json", "/machine.firmware"])
        .ok()
        .json();
    assert_eq!(j, json!("42"), "--string sent a string");
    // An int property refuses a string, as QEMU says, with a hint.
    tool("qom-set", s, &["/objects/io0.poll-max-ns", "--string", "5"])
        .status(1)
        .assert_err(
            "qom-set: /objects/io0.poll-max-ns: GenericError: Invalid parameter type for \
             'poll-max-ns', expected: integer (--json sends VALUE as JSON, --string as text)",
        );
    tool("qom-set", s, &["/objects/nope.x", "1"])
        .status(1)
        .assert_err("qom-set: DeviceNotFound: Device '/objects/nope' not found");
}

#[test]
fn qom_list_formats() {
    let Some(q) = Qemu::q35() else { return };
    let s = q.sock();
    let raw = tool("qom-list", s, &["--json", "vblk0"]).ok().json();
    let props = raw.as_array().unwrap();
    let plain = tool("qom-list", s, &["vblk0"]).ok();
    let want: String = props
        .iter()
        .map(|p| {
            let (n, t) = (p["name"].as_str().unwrap(), p["type"].as_str().unwrap());
            if t.starts_with("child<") {
                format!("{n}/\n")
            } else if t.starts_with("link<") {
                format!("@{n}/\n")
            } else {
                format!("{n}\n")
            }
        })
        .collect();
    plain.assert_stdout(&want);
    assert!(
        plain.stdout.contains("\nvirtio-backend/\n") && plain.stdout.contains("\n@iothread/\n"),
        "{}",
        plain.show()
    );
    let long = tool("qom-list", s, &["-l", "vblk0"]).ok();
    assert!(
        long.stdout
            .lines()
            .any(|l| l == "virtio-backend/\tchild<virtio-blk-device>"),
        "{}",
        long.show()
    );
    // The default path is the root.
    let root = tool("qom-list", s, &[]).ok();
    assert!(
        root.stdout.lines().any(|l| l == "machine/"),
        "{}",
        root.show()
    );
    tool("qom-list", s, &["/nope"])
        .status(1)
        .assert_err("qom-list: DeviceNotFound: Device '/nope' not found");
}

/// The object lines of plain qom-tree output (every line that is not a
/// property and not blank).
fn objects(plain: &str) -> Vec<&str> {
    plain
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with("  "))
        .collect()
}

/// Each object comes right after its parent or inside its parent's subtree:
/// the walk is depth first.
fn assert_depth_first(paths: &[&str]) {
    let mut open: Vec<&str> = vec![paths[0]];
    for p in &paths[1..] {
        let parent = p
            .rsplit_once('/')
            .map(|(a, _)| if a.is_empty() { "/" } else { a })
            .unwrap();
        while open.last().is_some_and(|top| *top != parent) {
            open.pop();
        }
        assert!(
            !open.is_empty(),
            "{p} is not below an open object: not depth first"
        );
        open.push(p);
    }
}

fn json_objects(node: &Value, out: &mut Vec<String>, props: &mut usize) {
    out.push(node["path"].as_str().unwrap().to_string());
    *props += node["properties"].as_array().unwrap().len();
    for c in node["children"].as_array().unwrap() {
        json_objects(c, out, props);
    }
}

#[test]
fn qom_tree_q35() {
    let Some(q) = Qemu::q35() else { return };
    let s = q.sock();
    // QEMU's own tree has unreadable properties: printed and counted, and
    // the walk is complete: status 0, as QEMU's tool; --strict fails.
    let tree = tool("qom-tree", s, &[]).ok();
    assert!(
        tree.stderr.starts_with("qom-tree: ")
            && tree
                .stderr
                .ends_with(" properties could not be read (shown as <EXCEPTION: ...>)\n"),
        "{}",
        tree.show()
    );
    let strict = tool("qom-tree", s, &["--strict"]).status(1);
    assert_eq!(strict.stderr, tree.stderr);
    let objs = objects(&tree.stdout);
    assert_eq!(objs[0], "/");
    assert_depth_first(&objs);
    assert!(objs.len() > 100, "{}", objs.len());
    for want in [
        "/machine",
        "/machine/peripheral/vblk0",
        "/machine/peripheral/vblk0/virtio-backend",
        "/objects/io0",
    ] {
        assert!(objs.contains(&want), "{want} missing");
    }
    assert!(
        tree.stdout.contains("\n  serial: SN0 (str)\n"),
        "{}",
        &tree.stdout[..500]
    );
    assert!(tree.stdout.contains("\n  realized: True (bool)\n"));
    assert!(tree.stdout.contains(
        "<EXCEPTION: Property 'virtio-blk-device.legacy-iothread' is not readable> (str)"
    ));
    assert!(tree.stdout.ends_with("\n\n"));
    // Every object is followed by its properties, then one blank line.
    let blank = tree.stdout.lines().filter(|l| l.is_empty()).count();
    assert_eq!(blank, objs.len());
    // JSON: the same objects in the same order, the same properties.
    let j = tool("qom-tree", s, &["--json"]).ok();
    assert_eq!(j.stdout.lines().count(), 1);
    let (mut paths, mut nprops) = (Vec::new(), 0);
    json_objects(&j.json(), &mut paths, &mut nprops);
    assert_eq!(paths, objs);
    assert_eq!(
        nprops,
        tree.stdout.lines().filter(|l| l.starts_with("  ")).count()
    );
    // A subtree, a partial path, and --depth.
    let sub = tool("qom-tree", s, &["/machine/peripheral"]).ok();
    let sub_objs = objects(&sub.stdout);
    assert_depth_first(&sub_objs);
    assert!(sub_objs.contains(&"/machine/peripheral/vblk0/virtio-backend"));
    let d0 = tool("qom-tree", s, &["--depth", "0", "/machine/peripheral"]).ok();
    assert_eq!(objects(&d0.stdout), ["/machine/peripheral"]);
    let d1 = tool("qom-tree", s, &["--depth", "1", "/machine/peripheral"]).ok();
    let mut d1_objs = objects(&d1.stdout);
    d1_objs.sort();
    let peripherals =
        ["rp0", "tab0", "usb0", "vblk0", "vnet0"].map(|d| format!("/machine/peripheral/{d}"));
    assert_eq!(d1_objs[1..], peripherals);
    // --json --depth: an object whose children were left out says so; one
    // without children, or whose children were walked, does not.
    let j1 = tool(
        "qom-tree",
        s,
        &["--json", "--depth", "1", "/machine/peripheral"],
    )
    .ok();
    let top = j1.json();
    assert!(top.get("truncated").is_none(), "{}", j1.show());
    let kids = top["children"].as_array().unwrap();
    let vblk = kids
        .iter()
        .find(|c| c["path"] == "/machine/peripheral/vblk0")
        .unwrap();
    assert_eq!(vblk["truncated"], json!(true), "vblk0 has virtio-backend");
    assert_eq!(vblk["children"], json!([]));
    let tab = kids
        .iter()
        .find(|c| c["path"] == "/machine/peripheral/tab0")
        .unwrap();
    assert!(
        tab.get("truncated").is_none(),
        "usb-tablet has no children: {tab}"
    );
    tool("qom-tree", s, &["/nope"])
        .status(1)
        .assert_err("qom-tree: /nope: DeviceNotFound: Device '/nope' not found")
        .assert_stdout("");
    // The walk above went by qom-list and qom-get where QEMU lacks
    // qom-list-get (7.2 and 10.0; it is new in 10.1).
    let mut list_get = tool("qmp-exec", s, &["qom-list-get", "paths:=[\"/\"]"]);
    if version(s) < (10, 1) {
        list_get
            .status(1)
            .assert_err("qmp-exec: CommandNotFound: The command qom-list-get has not been found");
    } else {
        list_get.ok();
    }
}

#[test]
fn qom_tree_uses_qom_list_get_when_the_server_has_it() {
    let paths = |p: &[&str]| Some(json!({"paths": p}));
    let f = Fake::new(vec![
        Expect("qom-list-get", paths(&["/"])),
        ret(json!([{"properties": [
            {"name": "type", "type": "string", "value": "container"},
            {"name": "objects", "type": "child<container>"},
            {"name": "secret", "type": "str"},
            {"name": "l", "type": "link<x>", "value": "/objects/a"},
        ]}])),
        Expect("qom-list-get", paths(&["/objects"])),
        ret(json!([{"properties": [
            {"name": "a", "type": "child<iothread>"},
            {"name": "f", "type": "double", "value": 0.5},
            {"name": "d", "type": "struct", "value": {"k": [1, "x'y", null, true]}},
            {"name": "b", "type": "child<iothread>"},
        ]}])),
        Expect("qom-list-get", paths(&["/objects/a", "/objects/b"])),
        ret(json!([
            {"properties": [{"name": "n", "type": "uint64", "value": u64::MAX}]},
            {"properties": [{"name": "s", "type": "str", "value": "é\u{1}"}]},
        ])),
    ]);
    tool("qom-tree", f.path(), &[]).ok().assert_stdout(
        "/\n  type: container (string)\n  secret: <EXCEPTION: property could not be read> (str)\n  l: /objects/a (link<x>)\n\n\
         /objects\n  f: 0.5 (double)\n  d: {'k': [1, \"x'y\", None, True]} (struct)\n\n\
         /objects/a\n  n: 18446744073709551615 (uint64)\n\n\
         /objects/b\n  s: é\u{1} (str)\n\n",
    );
    f.finish();
    // Without qom-list-get: falls back to qom-list and qom-get.
    let f = Fake::new(fallback_walk_of_x(ret(json!([]))));
    tool("qom-tree", f.path(), &["/x"])
        .ok()
        .assert_stdout("/x\n  type: container (string)\n\n/x/c\n\n");
    f.finish();
}

#[test]
fn qom_tree_status_is_for_the_walk_and_depth_cuts_are_marked() {
    let paths = |p: &[&str]| Some(json!({"paths": p}));
    // qom-list-get: an unreadable property fails only with --strict; the
    // cut child shows as "truncated".
    for (strict, status) in [(false, 0), (true, 1)] {
        let f = Fake::new(vec![
            Expect("qom-list-get", paths(&["/"])),
            ret(json!([{"properties": [
                {"name": "type", "type": "string", "value": "container"},
                {"name": "objects", "type": "child<container>"},
                {"name": "bad", "type": "str"},
            ]}])),
        ]);
        let mut args = vec!["--json", "--depth", "0"];
        if strict {
            args.push("--strict");
        }
        tool("qom-tree", f.path(), &args)
            .status(status)
            .assert_err("qom-tree: 1 property could not be read (shown as <EXCEPTION: ...>)")
            .assert_stdout(
                "{\"path\":\"/\",\"properties\":[{\"name\":\"type\",\"type\":\"string\",\
                 \"value\":\"container\"},{\"name\":\"bad\",\"type\":\"str\",\"error\":\
                 \"property could not be read\"}],\"truncated\":true,\"children\":[]}\n",
            );
        f.finish();
    }
    // An object that vanishes during the walk: status 1, with or without
    // --strict, and the walk goes on around it.
    let f = Fake::new(fallback_walk_of_x(Reply(
        json!({"error": {"class": "DeviceNotFound", "desc": "Device '/x/c' not found"}}),
    )));
    tool("qom-tree", f.path(), &["/x"])
        .status(1)
        .assert_err("qom-tree: /x/c: DeviceNotFound: Device '/x/c' not found")
        .assert_stdout("/x\n  type: container (string)\n\n/x/c\n\n");
    f.finish();
}

/// A server without qom-list-get, walked from /x: qom-list of /x (a type and
/// a child c), then the qom-get and the qom-list of /x/c pipelined; `last`
/// answers the qom-list of /x/c.
fn fallback_walk_of_x(last: Step) -> Vec<Step> {
    vec![
        Expect("qom-list-get", Some(json!({"paths": ["/x"]}))),
        Reply(
            json!({"error": {"class": "CommandNotFound", "desc": "The command qom-list-get has not been found"}}),
        ),
        Expect("qom-list", Some(json!({"path": "/x"}))),
        ret(json!([{"name": "type", "type": "string"}, {"name": "c", "type": "child<y>"}])),
        Expect("qom-get", Some(json!({"path": "/x", "property": "type"}))),
        Expect("qom-list", Some(json!({"path": "/x/c"}))),
        ret(json!("container")),
        last,
    ]
}
