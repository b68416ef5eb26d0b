// The catalogue of ../shared/reference/threats.md as data for scripts/reliability-report: each case's
// title and group, the existing tests that also cover it, what is not automated and why, and the
// figures of the catalogue's §4 with the result keys the suites record them under. The design choices
// the catalogue left open and the defects the suite found are kept here too, so the generated
// docs/reliability.md says them next to the numbers.

/** One case of the catalogue. */
export interface CatalogueCase {
  id: number;
  group: "A" | "B" | "C" | "D" | "E" | "F" | "G";
  title: string;
  /** Existing tests outside tests/reliability that also cover the case ("file: test name"). */
  alsoCoveredBy?: string[];
  /** What of the case is not automated, and why. */
  notAutomated?: string;
}

export const groupTitles: Record<CatalogueCase["group"], string> = {
  A: "Hostile archive from a compromised client (server side)",
  B: "Transfer, SSH, archive selection",
  C: "Client run: containers, dumps, signals",
  D: "Locks and concurrency",
  E: "Disk full and resource exhaustion",
  F: "restic repository and maintain",
  G: "Secrets, configuration, injection, email",
};

export const catalogue: CatalogueCase[] = [
  { id: 1, group: "A", title: "Path traversal, absolute paths" },
  { id: 2, group: "A", title: "Write through a symlink (same archive)" },
  { id: 3, group: "A", title: "Symlink across two nights (CVE-2025-45582 pattern)" },
  { id: 4, group: "A", title: "Hardlink escape", alsoCoveredBy: ["tests/unit/unpack: extractor refusals"] },
  { id: 5, group: "A", title: "Device nodes, FIFO, socket" },
  {
    id: 6,
    group: "A",
    title: "setuid/setgid and foreign owners",
    notAutomated:
      "no nosuid,nodev mount is checked: the product keeps the bits and relies on the 0700 root-only parent instead (see the design choices)",
  },
  { id: 7, group: "A", title: "Decompression bomb" },
  {
    id: 8,
    group: "A",
    title: "Entry-count, inode and depth bomb",
    alsoCoveredBy: ["E-disk-full: #34 (inodes running out on the server)"],
  },
  {
    id: 9,
    group: "A",
    title: "Truncated or corrupt archive",
    alsoCoveredBy: ["tests/e2e/server-pull.test.ts: an archive whose sidecar does not match fails the host"],
  },
  { id: 10, group: "A", title: "Filename hazards" },
  {
    id: 11,
    group: "A",
    title: "Header tricks and duplicates",
    alsoCoveredBy: ["tests/unit/unpack: parser (PAX rules, numbers, names)"],
  },
  {
    id: 12,
    group: "B",
    title: "Host key verification",
    alsoCoveredBy: [
      "tests/unit/ssh/known-hosts.test.ts (parser and matcher table)",
      "tests/unit/ssh/session-faults.test.ts: a refused host key never reaches the server's authentication handler",
      "tests/e2e/server-pull.test.ts: a wrong host key for one client is refused before login",
    ],
  },
  {
    id: 13,
    group: "B",
    title: "Least privilege for the server's key",
    notAutomated:
      "the authorized_keys `restrict` option is not exercised (the harness confines the account with sshd_config Match instead)",
  },
  { id: 14, group: "B", title: "Hostile directory listing" },
  { id: 15, group: "B", title: "Connection dropped mid-download" },
  {
    id: 16,
    group: "B",
    title: "Stall or hang",
    alsoCoveredBy: ["tests/unit/ssh/session-faults.test.ts: no banner, stall mid-download, keepalives"],
  },
  {
    id: 17,
    group: "B",
    title: "Checksum",
    alsoCoveredBy: ["tests/e2e/server-pull.test.ts: an archive whose sidecar does not match fails the host"],
  },
  { id: 18, group: "B", title: "The client writes while the server reads" },
  {
    id: 19,
    group: "B",
    title: "Lock-check semantics",
    alsoCoveredBy: [
      "tests/e2e/server-pull.test.ts: a client lock is retried, then the host is skipped with a warning mail (and the stale-lock alert)",
    ],
  },
  {
    id: 20,
    group: "C",
    title: "Dump fails loudly",
    alsoCoveredBy: ["tests/e2e/client-run.test.ts: a service that fails is marked in the manifest"],
  },
  { id: 21, group: "C", title: "Dump fails silently" },
  {
    id: 22,
    group: "C",
    title: "Compose stop partly fails",
    alsoCoveredBy: [
      "tests/integration/plugins/docker-faults.test.ts: a stop that fails halfway still starts every service",
    ],
  },
  {
    id: 23,
    group: "C",
    title: "Compose start fails",
    alsoCoveredBy: ["tests/integration/plugins/docker-faults.test.ts: start fails once / keeps failing"],
  },
  {
    id: 24,
    group: "C",
    title: "SIGTERM mid-run (systemd timeout)",
    alsoCoveredBy: ["tests/e2e/client-docker.test.ts: SIGTERM while the stack is stopped"],
    notAutomated:
      "the real `systemd-run -p RuntimeMaxSec=` run: this machine's PID 1 is not systemd; the cgroup kill is imitated by signalling the whole process tree at once",
  },
  {
    id: 25,
    group: "C",
    title: "SIGKILL or power loss",
    alsoCoveredBy: ["tests/e2e/client-docker.test.ts: SIGKILL while the stack is stopped"],
  },
  {
    id: 26,
    group: "C",
    title: "Hazards in the source tree",
    notAutomated: "a 10 GB sparse file (64 MiB is used: the policy is the same, the run time is not)",
  },
  {
    id: 27,
    group: "C",
    title: "Exclude semantics",
    notAutomated:
      "an exclude pattern containing LF (YAML can carry it, rsync reads patterns per line): a file named with LF is checked instead",
  },
  { id: 28, group: "C", title: "Prune safety", alsoCoveredBy: ["tests/unit/client/prune.test.ts"] },
  {
    id: 29,
    group: "D",
    title: "Two client runs at once",
    alsoCoveredBy: ["tests/e2e/client-run.test.ts: a second run while one is running exits 75"],
  },
  {
    id: 30,
    group: "D",
    title: "Stale lock with the PID reused",
    alsoCoveredBy: ["tests/unit/client/archive-lock.test.ts"],
  },
  {
    id: 31,
    group: "D",
    title: "Pull and maintain on the same repo",
    alsoCoveredBy: [
      "tests/e2e/maintain.test.ts: a server pull holding the repository makes maintain wait for it",
      "tests/e2e/maintain.test.ts: a repository busy past repository_lock_wait is reported as failed",
    ],
  },
  {
    id: 32,
    group: "D",
    title: "Double pull and idempotence",
    alsoCoveredBy: ["tests/e2e/server-pull.test.ts: a second pull with no new archive makes no snapshot"],
  },
  {
    id: 33,
    group: "E",
    title: "Client staging full",
    notAutomated:
      "ENOSPC during the read-back verification: it only reads; the free-space check and a full disk during the archive write are tested",
  },
  { id: 34, group: "E", title: "Server temp full" },
  {
    id: 35,
    group: "E",
    title: "restic repo disk full",
    notAutomated:
      "the repository filling during `forget --prune`: the backup case is tested; prune on a full disk is left to restic's own tests",
  },
  {
    id: 36,
    group: "E",
    title: "Syscall faults and ordering",
    notAutomated:
      "write → ENOSPC at the Nth write by strace: real ENOSPC from small filesystems is used instead (#33, #34, #35)",
  },
  {
    id: 37,
    group: "F",
    title: "Repository damage",
    alsoCoveredBy: [
      "tests/e2e/maintain.test.ts: a deleted pack file in one repository, the mail names host and repository",
    ],
  },
  {
    id: 38,
    group: "F",
    title: "Retention per host",
    alsoCoveredBy: [
      "tests/e2e/maintain.test.ts: ten pulls per host, keep_last 3 globally and 5 for one host: exactly 3 and 5 remain, and restic check is clean",
    ],
    notAutomated:
      "not repeated here: the maintain end-to-end test already counts snapshots per host after ten pulls",
  },
  {
    id: 39,
    group: "F",
    title: "Exit-code mapping",
    alsoCoveredBy: ["tests/unit/restic/runner.test.ts (failure kinds)"],
  },
  {
    id: 40,
    group: "F",
    title: "Stale restic lock",
    alsoCoveredBy: [
      "tests/e2e/maintain.test.ts: a stale restic lock left by a killed restic backup is removed by maintain before forget",
    ],
    notAutomated:
      "the run 31 minutes later (a lock aged past restic's 30 min): restic 0.14's lock files are encrypted, so their time cannot be edited; the dead-PID rule is tested instead",
  },
  {
    id: 41,
    group: "G",
    title: "Config file hygiene",
    alsoCoveredBy: [
      "tests/unit/config/permissions.test.ts",
      "tests/unit/config/validate.test.ts",
      "tests/e2e/config-validate.test.ts",
    ],
  },
  {
    id: 42,
    group: "G",
    title: "Command and argument injection",
    alsoCoveredBy: ["tests/unit/plugins (argv table tests)"],
  },
  {
    id: 43,
    group: "G",
    title: "Secret leakage",
    alsoCoveredBy: [
      "tests/integration/plugins/secrets.test.ts",
      "tests/unit/notify/mail.test.ts: the SMTP password appears in no log line, mail or result",
    ],
    notAutomated:
      "the journal (no journald here; stderr is what systemd would store) and /proc/*/environ of other processes (not readable, as the issue notes)",
  },
  {
    id: 44,
    group: "G",
    title: "Mail header injection",
    alsoCoveredBy: [
      "tests/unit/notify/mail.test.ts: CR/LF in the subject and in recipients adds no header and no recipient",
    ],
  },
  {
    id: 45,
    group: "G",
    title: "SMTP down or hanging",
    alsoCoveredBy: ["tests/unit/notify/mail.test.ts: STARTTLS required, closed port, never greets"],
  },
];

/** A figure of §4: a label and the result keys that hold its value (the first present wins). */
export interface FigureLine {
  label: string;
  keys: string[];
  /** Must be 0 (or "0/N" when N is counted the other way): the report flags anything else. */
  mustBeZero?: boolean;
}

/** The figures of the catalogue's §4, in its order. */
export const figureSections: { title: string; lines: FigureLine[] }[] = [
  {
    title: "Hostile archives",
    lines: [
      { label: "crafted archives (all tests of group A)", keys: ["hostile.corpus-size"] },
      { label: "pull corpus refused or contained as expected", keys: ["hostile.pull-corpus-as-expected"] },
      {
        label: "of which refused / contained",
        keys: ["hostile.pull-corpus-refused", "hostile.pull-corpus-contained"],
      },
      { label: "truncated and corrupt archives refused", keys: ["hostile.corrupt-archives-refused"] },
      {
        label: "paths changed outside the temp dir (witness)",
        keys: ["hostile.paths-changed-outside-temp"],
        mustBeZero: true,
      },
      {
        label: "gzip bomb: compressed bytes / cap / peak disk / peak RSS",
        keys: [
          "hostile.bomb-compressed-bytes",
          "hostile.bomb-cap-bytes",
          "hostile.bomb-peak-disk-bytes",
          "hostile.bomb-peak-rss-bytes",
        ],
      },
      {
        label: "entry-count bomb (10^5, and 10^6 in the full run): peak RSS",
        keys: ["hostile.entry-bomb-100000-peak-rss-bytes", "hostile.entry-bomb-1000000-peak-rss-bytes"],
      },
      {
        label: "hazardous names byte-exact after client run → pull → restore",
        keys: ["hostile.hazardous-names-round-trip"],
      },
    ],
  },
  {
    title: "Containers",
    lines: [
      {
        label: "stacks running again after injected failures (stop, start, copy)",
        keys: ["containers.restarted-after-injected-failures"],
      },
      {
        label: "SIGTERM per phase (dump, stop, copy, archive): median / worst ms to the stack running",
        keys: ["sigterm.median-ms-to-stack-running", "sigterm.worst-ms-to-stack-running"],
      },
      {
        label: "SIGTERM per phase: median / worst ms to exit",
        keys: ["sigterm.median-ms-to-exit", "sigterm.worst-ms-to-exit"],
      },
      { label: "a second SIGTERM during cleanup: ms to exit", keys: ["sigterm.second-signal-ms-to-exit"] },
      {
        label: "SIGTERM sweep: stacks stopped at exit",
        keys: ["term-sweep.stacks-stopped-at-exit"],
        mustBeZero: true,
      },
      {
        label: "SIGTERM sweep: median / worst ms to the stack running",
        keys: ["term-sweep.median-ms-term-to-stack-running", "term-sweep.worst-ms-term-to-stack-running"],
      },
    ],
  },
  {
    title: "Kill-point sweep",
    lines: [
      { label: "SIGKILLs (seed; phases hit)", keys: ["kill-sweep.points", "kill-sweep.seed"] },
      {
        label: "partial final-named archives",
        keys: ["kill-sweep.partial-final-archives"],
        mustBeZero: true,
      },
      {
        label: "stacks left stopped after the next run",
        keys: ["kill-sweep.stacks-left-stopped-after-next-run"],
        mustBeZero: true,
      },
      {
        label: "locks (archive lock, stop records) left after the next run",
        keys: ["kill-sweep.locks-left-after-next-run"],
        mustBeZero: true,
      },
      {
        label: "staging dirs or .partial files left after the next run",
        keys: ["kill-sweep.leftovers-after-next-run"],
        mustBeZero: true,
      },
      { label: "next runs that failed", keys: ["kill-sweep.next-runs-failed"], mustBeZero: true },
      {
        label: "final-named archives without a sidecar (complete, but never fetched)",
        keys: ["kill-sweep.final-archives-without-sidecar"],
      },
      {
        label: "stale archive locks replaced by the next run",
        keys: ["kill-sweep.stale-archive-locks-replaced"],
      },
      { label: "SIGTERM sweep: signals (seed; phases)", keys: ["term-sweep.points", "term-sweep.seed"] },
      {
        label: "SIGTERM sweep: interrupted runs that exited 143",
        keys: ["term-sweep.interrupted-runs-exit-143"],
      },
      {
        label: "SIGTERM sweep: runs leaving a lock, stop record, staging dir or .partial",
        keys: ["term-sweep.runs-leaving-lock-records-or-partials"],
        mustBeZero: true,
      },
      {
        label: "SIGTERM sweep: partial final-named archives",
        keys: ["term-sweep.partial-final-archives"],
        mustBeZero: true,
      },
    ],
  },
  {
    title: "Transfer",
    lines: [
      {
        label: "dropped, stalled and killed transfers ending verified or as a clean failure",
        keys: ["transfer.faults-ending-clean-or-verified"],
      },
      {
        label: "ms to failure without a banner (connect_timeout 3 s)",
        keys: ["transfer.no-banner-ms-to-failure"],
      },
      { label: "ms to failure after a stall (idle_timeout 3 s)", keys: ["transfer.stall-ms-to-failure"] },
      { label: "hostile listings handled as expected", keys: ["listing.scenarios-as-expected"] },
      {
        label: "endless file: bytes served with a listed size / without one",
        keys: ["listing.endless-bytes-served-with-size", "listing.endless-bytes-served-without-size"],
      },
      { label: "sidecar faults refused", keys: ["selection.sidecar-faults-refused"] },
      {
        label: "lock stat errors read as unlocked",
        keys: ["selection.lock-stat-errors-read-as-unlocked"],
        mustBeZero: true,
      },
    ],
  },
  {
    title: "Host keys",
    lines: [
      {
        label: "refused: wrong, revoked, missing entry, missing file, other key type",
        keys: ["host-keys.refused"],
      },
      { label: "accepted: plain, hashed, comma list, [host]:port RSA-only", keys: ["host-keys.accepted"] },
      { label: "false accepts", keys: ["host-keys.false-accepts"], mustBeZero: true },
      { label: "false rejects", keys: ["host-keys.false-rejects"], mustBeZero: true },
      { label: "logins by refused hosts", keys: ["host-keys.logins-by-refused-hosts"], mustBeZero: true },
      {
        label: "requests of the server's key refused by the confined account",
        keys: ["least-privilege.requests-refused"],
      },
    ],
  },
  {
    title: "Secrets and injection",
    lines: [
      { label: "canary hits", keys: ["secrets.canary-hits"], mustBeZero: true },
      { label: "/proc/*/cmdline samples", keys: ["secrets.cmdline-samples"] },
      { label: "log and mail bytes searched", keys: ["secrets.log-and-mail-bytes-searched"] },
      { label: "state, temp and work files searched", keys: ["secrets.files-searched"] },
      { label: "scenarios", keys: ["secrets.scenarios"] },
      { label: "injection canaries created", keys: ["injection.canaries-created"], mustBeZero: true },
      { label: "mail header payloads delivered", keys: ["mail.header-payloads-delivered"] },
      {
        label: "bad configurations refused before acting",
        keys: ["config.bad-configs-refused-before-acting"],
      },
      { label: "SMTP faults bounded, run result unchanged", keys: ["mail.smtp-faults-bounded"] },
    ],
  },
  {
    title: "Disk full",
    lines: [
      {
        label: "ENOSPC and syscall-fault scenarios ended clean",
        keys: ["disk-full.enospc-scenarios-ended-clean"],
      },
      {
        label: "client bytes and inodes leaked against the baseline",
        keys: ["disk-full.client-bytes-leaked"],
        mustBeZero: true,
      },
      { label: "write order of an atomic file", keys: ["syscall-faults.order-of-an-atomic-write"] },
    ],
  },
  {
    title: "restic",
    lines: [
      { label: "damage types caught by maintain", keys: ["restic.damage-caught-by-maintain"] },
      {
        label: "a flipped data byte without read_data_subset",
        keys: ["restic.flipped-byte-missed-without-read-data"],
      },
      {
        label: "exit codes mapped (3 partial, 10, 11, 12, 130, 42 failed)",
        keys: ["restic.exit-codes-mapped"],
      },
      {
        label: "check clean after an interrupted backup",
        keys: ["restic.check-clean-after-interrupted-backup"],
      },
      { label: "missing repository", keys: ["restic.missing-repository-choice"] },
      {
        label: "snapshots per archive after a crash between backup and bookkeeping",
        keys: ["locks.snapshots-per-archive-after-crash"],
      },
    ],
  },
  {
    title: "Round trip",
    lines: [
      { label: "hazardous names byte-exact after restore", keys: ["hostile.hazardous-names-round-trip"] },
      { label: "setuid, setgid and owners after restore", keys: ["hostile.setuid-choice"] },
    ],
  },
  {
    title: "Soak",
    lines: [
      { label: "cycles (client run + server pull)", keys: ["soak.cycles", "soak.duration-ms"] },
      { label: "processes left running (first → last cycles)", keys: ["soak.leftoverProcesses"] },
      { label: "sshd descriptors", keys: ["soak.sshdDescriptors"] },
      {
        label: "peak descriptors of client run / server pull",
        keys: ["soak.clientPeakDescriptors", "soak.pullPeakDescriptors"],
      },
      { label: "new backupctl temp dirs", keys: ["soak.backupctlTempDirs"] },
      { label: "server temp entries / bytes", keys: ["soak.serverTempEntries", "soak.serverTempBytes"] },
      { label: "client base dir bytes / state bytes", keys: ["soak.clientBaseBytes", "soak.stateBytes"] },
    ],
  },
];

/** Choices the catalogue left open, what the product does, and the test that pins it. */
export const designChoices: { topic: string; choice: string; pinnedBy: string }[] = [
  {
    topic: "setuid/setgid bits and foreign owners in archives",
    choice:
      "Kept as archived (restic must record them as they were); the unpack dir sits under a 0700 root-owned work dir, so no other user can reach or swap the files meanwhile. No nosuid,nodev mount is required.",
    pinnedBy: "A-hostile-archives #6",
  },
  {
    topic: "device nodes, FIFOs and sockets",
    choice:
      "Server: an archive holding one is refused and the host fails (not kept as metadata). Client: rsync skips them (--no-devices --no-specials) with a warning, so a FIFO is never opened.",
    pinnedBy: "A-hostile-archives #5, C-source-tree #26",
  },
  {
    topic: "missing sidecar",
    choice:
      'The archive is ignored with a warning and never fetched; with no other complete archive the host fails ("No complete archive").',
    pinnedBy: "B-selection #17",
  },
  {
    topic: "auto-init of a missing repository",
    choice:
      "Off by default (restic.init_missing_repos: false): a clear error naming `restic init`; with true the repository is initialised on the first pull.",
    pinnedBy: "F-restic #39",
  },
  {
    topic: "duplicate paths in an archive",
    choice: "An error: the archive is refused.",
    pinnedBy: "A-hostile-archives #11",
  },
  {
    topic: "symlinks in archives",
    choice:
      "Created inert with their target bytes unchanged, never followed; an entry below a symlink of the same archive is refused.",
    pinnedBy: "A-hostile-archives #2, #3",
  },
  {
    topic: "PAX path different from the ustar name",
    choice:
      "The PAX path wins (one parser validates and extracts); a PAX size that differs from a non-zero ustar size is refused.",
    pinnedBy: "A-hostile-archives #11",
  },
  {
    topic: "other services when one fails",
    choice:
      "Archived; the failed service is marked in the manifest and left out; the run exits 3 and mails; nothing is pruned.",
    pinnedBy: "C-client-faults #20, C-source-tree #28",
  },
  {
    topic: "a bad service file",
    choice:
      'That service is refused before anything runs (never started, marked "not run"), the others are backed up (exit 3); a bad client_config.yml stops the run (exit 2).',
    pinnedBy: "G-config-injection #41",
  },
  {
    topic: "retention while a service keeps failing",
    choice:
      "The snapshots of partial archives are tagged `partial`; `maintain` never forgets the newest snapshot that holds every service while all after it are partial (the policy is asked with `--dry-run` first, then only the others it names are forgotten), and warns. `restore --service` of a service that failed in the chosen snapshot names that snapshot.",
    pinnedBy: "tests/e2e/maintain.test.ts, tests/e2e/restore.test.ts",
  },
  {
    topic: "a failure that lasts, and its end",
    choice:
      "Pull failure mails say since when and how many pulls in a row failed and when the last snapshot was stored; the first good pull mails `RECOVERED` to the host's admin; maintain does the same per repository; `server status` shows the count.",
    pinnedBy: "tests/e2e/server-pull.test.ts, tests/e2e/maintain.test.ts",
  },
  {
    topic: "a source that is suddenly empty",
    choice:
      "Archived as it is (an empty directory is not an error), but a service whose staged data lost more than half its bytes or files since the last run, like a dump below half its last size, raises an alert in the log and a WARNING mail naming it and both sizes.",
    pinnedBy: "tests/unit/client/size-alerts.test.ts, tests/e2e/client-run.test.ts",
  },
  {
    topic: "a job that stops running at all",
    choice:
      "Optional `ping:` per job (client run, server pull, maintain): GETs to a dead-man's-switch monitor at start, success and failure, bounded by a timeout; a failed ping is logged and never changes the result.",
    pinnedBy: "tests/unit/notify/ping.test.ts, tests/e2e/client-run.test.ts",
  },
  {
    topic: "unreadable and sparse source files",
    choice:
      "Read as root (mode 000 is no obstacle); sparse files are copied and archived in full (rsync without --sparse; the server refuses GNU sparse members).",
    pinnedBy: "C-source-tree #26",
  },
  {
    topic: "restic exit 3 and unknown exit codes",
    choice:
      'Exit 3 stores the snapshot but the host is "partial" (pull exits 3); any code other than 0 and 3 fails the host.',
    pinnedBy: "F-restic #39",
  },
  {
    topic: "lock-check errors",
    choice:
      'Anything but "no such file" on the lock\'s stat counts as locked: the host is skipped, never pulled.',
    pinnedBy: "B-selection #19",
  },
  {
    topic: "an unreadable restic lock file",
    choice:
      "restic 0.14 skips it (0.16 and later refuse to run); maintain never removes it (plain `restic unlock`, no --remove-all).",
    pinnedBy: "F-restic #37",
  },
  {
    topic: "read-only SFTP (`internal-sftp -R`)",
    choice:
      "Pull needs only read access when hosts[].after_ingest is keep; move (the default) and delete need write access to the client's dir.",
    pinnedBy: "B-host-keys #13",
  },
];

/** Product defects the suite found, and where they were fixed. */
export const defectsFound: { cases: string; defect: string; fix: string }[] = [
  {
    cases: "#10",
    defect:
      "A source file whose name is not valid UTF-8 failed the whole client run (exit 1, no archive at all): the manifest measured the staged tree with string paths.",
    fix: "f798dd7 (mod/client/manifest.ts: Buffer paths)",
  },
  {
    cases: "#14",
    defect:
      "A hostile SFTP server that leaves out the size attribute and never ends the file kept a host's pull running forever: after the unpacked-bytes cap, the rest of the stream was still hashed.",
    fix: "in 4fd0db4 (mod/server/unpack/unpack-archive.ts; committed together with another change made in the same working tree)",
  },
  {
    cases: "#28",
    defect: "A base_backup_dir (or local_temp_base_dir) that is a symlink to / or /etc passed validation.",
    fix: "a6fdf66 (mod/config/fields.ts)",
  },
  {
    cases: "#30",
    defect:
      "client_config.yml's stale_lock_after was documented but never read: an archive lock without an owner record blocked every client run for ever.",
    fix: "5bc708a (mod/client/archive-lock.ts, run.ts)",
  },
  {
    cases: "#32",
    defect:
      "A pull killed after restic stored the snapshot left the unpacked plaintext on the server until the client made a new archive: later pulls found nothing new and never removed it.",
    fix: "900cf81 (mod/server/host-pull.ts)",
  },
  {
    cases: "#21",
    defect:
      "A dump that exits 0 from a database emptied since the last run raised no alert (the catalogue's size-drop check was missing; the case failed in the suite).",
    fix: "3912ad1 (by the client's maintainer: alert in log and mail when a dump shrank below half its last size)",
  },
  {
    cases: "#25",
    defect:
      "A SIGKILL between creating and renaming an atomic write's temporary file left it for ever (stop records, state files, sidecars); the kill-point sweep found one counted as a lock after the next run.",
    fix: "1f4ce4c (mod/lib/atomic.ts removeAbandonedTemporaryFiles, called by client run and server pull)",
  },
  {
    cases: "#33",
    defect:
      "A full disk while writing the archive was reported as tar's \"Cannot write: Connection reset by peer\"; the compressor's ENOSPC was never mentioned.",
    fix: "58cd9da (mod/lib/pipeline.ts: report the stage that failed for a reason of its own)",
  },
];
