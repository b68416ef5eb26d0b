import { describe, expect, test } from "bun:test";
import { commandEnvironment, commandOutputPath } from "../../../plugins/command.ts";

describe("commandOutputPath", () => {
  const cases: [string | undefined, string][] = [
    ["ldap.ldif", "commands/ldap.ldif"],
    [undefined, "commands"],
  ];
  test.each(cases)("output %p → %s", (output, expected) => {
    expect(commandOutputPath({ output })).toBe(expected);
  });

  test.each(["../escape", "a/b", ".hidden", ""])("refuses output %p", (output) => {
    expect(() => commandOutputPath({ output })).toThrow(/Cannot use command.output/);
  });
});

describe("commandEnvironment", () => {
  test("names the output directory and the service", () => {
    expect(
      commandEnvironment("/s/web/shop/commands", {
        service: { type: "web", name: "shop", file: "", directory: "" },
      }),
    ).toEqual({
      BACKUPCTL_OUTPUT_DIR: "/s/web/shop/commands",
      BACKUPCTL_SERVICE_TYPE: "web",
      BACKUPCTL_SERVICE_NAME: "shop",
    });
  });
});
