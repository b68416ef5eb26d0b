import { describe, expect, test } from "bun:test";
import { influxdbTaskSchema } from "../../../mod/config/tasks/influxdb.ts";
import { influxBackupArgv } from "../../../plugins/influxdb.ts";

describe("influxBackupArgv", () => {
  const cases: [string, Record<string, unknown>, string[]][] = [
    [
      "every bucket of an org on the default host",
      { org: "home", token_file: "/etc/backup/secrets/influx" },
      ["influx", "backup", "--host=http://localhost:8086", "--org=home", "/s/influxdb"],
    ],
    [
      "one bucket; option-like values stay in their --name=value argument",
      { host: "https://influx.local:8086", org: "-home", bucket: "sensors" },
      [
        "influx",
        "backup",
        "--host=https://influx.local:8086",
        "--org=-home",
        "--bucket=sensors",
        "/s/influxdb",
      ],
    ],
  ];
  test.each(cases)("%s (no token in argv)", (_name, block, expected) => {
    const argv = influxBackupArgv(["influx"], influxdbTaskSchema.parse(block), "/s/influxdb");
    expect(argv).toEqual(expected);
    expect(argv.join(" ")).not.toMatch(/token/i);
  });
});
