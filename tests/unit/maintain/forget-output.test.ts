import { describe, expect, test } from "bun:test";
import { parseForgetLine } from "../../../mod/maintain/forget-output.ts";

describe("parseForgetLine", () => {
  test("sums what every group keeps and removes", () => {
    const line = JSON.stringify([
      {
        host: "web01",
        keep: [{ id: "a1", time: "2026-11-26T10:00:00Z" }],
        remove: [{ id: "b2", time: "2026-11-25T10:00:00Z" }],
      },
      { host: "web01", keep: [{ id: "c3", time: "2026-11-24T10:00:00Z" }], remove: null },
    ]);
    expect(parseForgetLine(line)).toEqual({
      kept: [
        { id: "a1", time: "2026-11-26T10:00:00Z" },
        { id: "c3", time: "2026-11-24T10:00:00Z" },
      ],
      removed: [{ id: "b2", time: "2026-11-25T10:00:00Z" }],
    });
  });
  test("an empty repository gives empty lists", () =>
    expect(parseForgetLine("[]")).toEqual({ kept: [], removed: [] }));
  const ignored = ["loading indexes...", "[0:00] 100.00%  2 / 2 snapshots", "[1,2"];
  for (const line of ignored) {
    test(`prune's progress line "${line}" is not forget's JSON`, () =>
      expect(parseForgetLine(line)).toBeUndefined());
  }
});
