// The test harness: real throwaway services (sshd, PostgreSQL, MariaDB, dockerd, SMTP capture, restic
// repository, an HTTP monitor for pings), each started fresh by the tests that need it and stopped in afterAll.
export { type Account, ensureLoginAccount, lookupAccount, requireAccount } from "./accounts.ts";
export {
  type ComposeService,
  type DockerHandle,
  type DockerOptions,
  startDocker,
  writeComposeProject,
} from "./docker.ts";
export { decodeEncodedWords, type MailAttachment, type ParsedMail, parseMail } from "./mail.ts";
export { type MariadbHandle, startMariadb } from "./mariadb.ts";
export { type MonitorHandle, startMonitor } from "./monitor.ts";
export { type PostgresHandle, quoteIdentifier, startPostgres } from "./postgres.ts";
export {
  type CommandResult,
  type RunOptions,
  runCommand,
  ServiceProcess,
  type StopOptions,
  waitUntil,
} from "./process.ts";
export { type ResticHandle, type ResticNode, type ResticSnapshot, startRestic } from "./restic.ts";
export { type CapturedMail, type SmtpHandle, type SmtpOptions, startSmtp } from "./smtp.ts";
export { type HostKeyType, type SshdHandle, type SshdOptions, sshTestUser, startSshd } from "./sshd.ts";
export { freePort, makeSecureTempDir, makeTempDir, removeTempDir, secureTempBase } from "./tmp.ts";
