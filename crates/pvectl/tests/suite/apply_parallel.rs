//! `apply` of many manifests at once (issue 17): they converge side by side, bounded by
//! `--parallel`; one that fails leaves the others to complete (exit 3, each reported), and
//! `--parallel 1` applies them one after another in the files' order.

#![allow(clippy::unwrap_used)]

use crate::common;

use common::{Env, vm_manifest};

/// One file with the manifests, `---` between them.
fn write_all(env: &Env, docs: &[String]) -> String {
    std::fs::write(env.path("all.yaml"), docs.join("---\n")).unwrap();
    env.path("all.yaml").display().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_failing_manifest_leaves_the_others_applied_and_exit_3() {
    let env = Env::new().await;
    let mut docs: Vec<String> = (0..6)
        .map(|i| vm_manifest(&format!("web-{i}"), 130 + i, "pve1"))
        .collect();
    docs.insert(3, vm_manifest("lost", 140, "nosuchnode"));
    let path = write_all(&env, &docs);
    let r = env.run(&["apply", "-f", &path]).expect(3);
    for i in 0..6 {
        assert!(
            r.stdout
                .contains(&format!("proxmoxvm/web-{i} (vm/{}) created", 130 + i)),
            "{}\n{}",
            r.stdout,
            r.stderr
        );
        let g = env.pve.guest(130 + i).await.unwrap();
        assert_eq!(g["status"], "running", "{g:#}");
    }
    assert!(
        r.stderr
            .contains("error: proxmoxvm/lost: spec.node: no node \"nosuchnode\""),
        "{}",
        r.stderr
    );
    assert!(env.pve.guest(140).await.is_none());
    // One operation in the journal, linked to every guest it created.
    let ops = env.journal();
    let last = ops.last().unwrap().to_string();
    assert!(last.contains("partial"), "{last}");
    for i in 0..6 {
        assert!(last.contains(&format!("vm/{}", 130 + i)), "{last}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_1_applies_in_the_files_order() {
    let env = Env::new().await;
    let docs: Vec<String> = (0..5)
        .map(|i| vm_manifest(&format!("web-{i}"), 150 + i, "pve1"))
        .collect();
    let path = write_all(&env, &docs);
    let r = env
        .run(&["apply", "-f", &path, "--parallel", "1"])
        .expect(0);
    let created: Vec<&str> = r
        .stdout
        .lines()
        .filter(|l| l.ends_with(" created"))
        .collect();
    let wanted: Vec<String> = (0..5)
        .map(|i| format!("proxmoxvm/web-{i} (vm/{}) created", 150 + i))
        .collect();
    assert_eq!(created, wanted, "{}", r.stdout);
}
