import { describe, expect, test } from "bun:test";
import { selectReadDataSubset } from "../../../mod/restic/read-data-subset.ts";

describe("selectReadDataSubset", () => {
  const cases: [string, string, number | undefined, string, number | undefined][] = [
    ["the first run starts at the configured part", "1/3", undefined, "1/3", 2],
    ["the stored part is read next", "1/3", 2, "2/3", 3],
    ["the last part wraps to the first", "1/3", 3, "3/3", 1],
    ["a configured start other than 1", "2/5", undefined, "2/5", 3],
    ["a counter beyond a lowered total wraps", "1/3", 5, "2/3", 3],
    ["a damaged counter starts again", "1/3", Number.NaN, "1/3", 2],
    ["a zero counter starts again", "1/4", 0, "1/4", 2],
    ["a fractional counter starts again", "1/4", 2.5, "1/4", 2],
    ["one part is the whole repository every run", "1/1", 1, "1/1", 1],
    ["a percentage does not rotate", "10%", 2, "10%", undefined],
    ["a size does not rotate", "500M", undefined, "500M", undefined],
  ];
  for (const [name, configured, stored, subset, nextPart] of cases) {
    test(name, () => expect(selectReadDataSubset(configured, stored)).toEqual({ subset, nextPart }));
  }

  test("three runs of 1/3 read 1/3, 2/3 and 3/3, then start over", () => {
    const subsets: string[] = [];
    let stored: number | undefined;
    for (let run = 0; run < 4; run++) {
      const selection = selectReadDataSubset("1/3", stored);
      subsets.push(selection.subset);
      stored = selection.nextPart;
    }
    expect(subsets).toEqual(["1/3", "2/3", "3/3", "1/3"]);
  });

  for (const configured of ["0/3", "4/3", "1/0"]) {
    test(`refuses "${configured}"`, () =>
      expect(() => selectReadDataSubset(configured, undefined)).toThrow("between 1"));
  }
});
