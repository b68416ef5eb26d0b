import { describe, expect, test } from "bun:test";
import { parse } from "yaml";
import {
  chooseDigest,
  containerImagesArgv,
  imageDigestsArgv,
  imageRepository,
  pinComposeText,
  type RunningImage,
} from "../../../plugins/docker-pin.ts";

describe("imageRepository", () => {
  const cases: [string, string][] = [
    ["nginx", "nginx"],
    ["nginx:1.25", "nginx"],
    ["docker.io/library/nginx:1.25", "nginx"],
    ["index.docker.io/library/nginx", "nginx"],
    ["docker.io/grafana/grafana:10", "grafana/grafana"],
    ["ghcr.io/acme/app:2@sha256:abc", "ghcr.io/acme/app"],
    ["registry.local:5000/team/app:3", "registry.local:5000/team/app"],
    ["registry.local:5000/app", "registry.local:5000/app"],
    ["nginx@sha256:0123", "nginx"],
  ];
  test.each(cases)("%s → %s", (reference, expected) => {
    expect(imageRepository(reference)).toBe(expected);
  });
});

describe("chooseDigest", () => {
  const digests = ["mirror.local/nginx@sha256:aaa", "nginx@sha256:bbb"];
  const cases: [string, string | undefined, string[], string | undefined][] = [
    ["the digest of the configured repository", "docker.io/library/nginx:1.25", digests, "nginx@sha256:bbb"],
    ["the first digest when none matches", "other/app:1", digests, "mirror.local/nginx@sha256:aaa"],
    ["the first digest for a service without image", undefined, digests, "mirror.local/nginx@sha256:aaa"],
    ["nothing for an image without digests", "nginx", [], undefined],
  ];
  test.each(cases)("%s", (_name, configured, repoDigests, expected) => {
    expect(chooseDigest(configured, repoDigests)).toBe(expected);
  });
});

describe("docker inspect argv", () => {
  test("container and image IDs come after --", () => {
    expect(containerImagesArgv(["docker"], ["c1", "c2"]).slice(-3)).toEqual(["--", "c1", "c2"]);
    expect(imageDigestsArgv(["docker", "--host", "unix:///d.sock"], ["sha256:1"])).toEqual([
      "docker",
      "--host",
      "unix:///d.sock",
      "image",
      "inspect",
      "--format",
      "{{.Id}}\t{{json .RepoDigests}}",
      "--",
      "sha256:1",
    ]);
  });
});

describe("pinComposeText", () => {
  const compose = [
    "# the shop stack",
    "x-defaults: &defaults",
    "  restart: unless-stopped",
    "services:",
    "  web:",
    "    <<: *defaults",
    "    ports: ['8080:80']",
    "    image: nginx:1.25 # the front end",
    "  app:",
    "    build: ./app",
    "  db:",
    "    environment:",
    "      POSTGRES_DB: shop",
    "    image: postgres:16",
    "  cron:",
    "    image: busybox",
    "",
  ].join("\n");
  const images = new Map<string, RunningImage>([
    ["web", { imageId: "sha256:web", repoDigests: ["nginx@sha256:1111"] }],
    ["app", { imageId: "sha256:appid", repoDigests: [] }],
    ["db", { imageId: "sha256:db", repoDigests: ["postgres@sha256:2222"] }],
  ]);
  const pinned = pinComposeText(compose, images, {
    source: "/srv/shop/docker-compose.yml",
    time: new Date("2026-11-26T03:00:00Z"),
  });
  const services = (
    parse(pinned.text, { merge: true }) as { services: Record<string, Record<string, unknown>> }
  ).services;

  test("replaces an image whatever key comes first in its service", () => {
    expect(services.web?.image).toBe("nginx@sha256:1111");
    expect(services.db?.image).toBe("postgres@sha256:2222");
  });

  test("keeps everything else of the file: keys, anchors, comments", () => {
    expect(services.web?.restart).toBe("unless-stopped");
    expect(services.db?.environment).toEqual({ POSTGRES_DB: "shop" });
    expect(pinned.text).toContain("# the shop stack");
    expect(pinned.text).toContain("&defaults");
  });

  test("gives a locally built image its image ID, marked as not pullable", () => {
    expect(services.app?.image).toBe("sha256:appid");
    expect(pinned.text).toMatch(/image: sha256:appid # image ID, not pullable/);
    expect(pinned.warnings).toContainEqual(expect.stringContaining('service "app"'));
  });

  test("leaves a service without container as it was and says so", () => {
    expect(services.cron?.image).toBe("busybox");
    expect(pinned.text).toMatch(/image: busybox # not pinned/);
    expect(pinned.warnings).toContainEqual(expect.stringContaining('service "cron" has no container'));
  });

  test("opens with a comment naming the source and the time", () => {
    expect(pinned.text.split("\n")[0]).toBe(
      "# Written by backupctl on 2026-11-26T03:00:00.000Z from /srv/shop/docker-compose.yml:",
    );
  });

  test("refuses a file that is not a compose file", () => {
    expect(() => pinComposeText("just: [text", images, { source: "x.yml", time: new Date() })).toThrow(
      /Cannot pin the images of "x.yml"/,
    );
    expect(() => pinComposeText("version: '3'\n", images, { source: "x.yml", time: new Date() })).toThrow(
      /no services mapping/,
    );
  });
});
