// Image pinning of the `docker` task: the compose file rewritten (parsed and written with the yaml
// package, comments kept) so every service's image is the registry digest its container runs,
// `repo@sha256:…` — or, for an image that came from no registry, its image ID, marked as not pullable.

import { readFile, writeFile } from "node:fs/promises";
import { isMap, isScalar, parseDocument, type Scalar } from "yaml";
import { BackupError } from "../mod/lib/errors.ts";
import { type ComposeStack, stackComposeArgv } from "./compose.ts";
import type { TaskContext } from "./types.ts";

/** The image a service's container runs: its ID and the registry digests docker knows for it. */
export interface RunningImage {
  imageId: string;
  repoDigests: string[];
}

const queryTimeoutMs = 2 * 60 * 1000;
const containerFormat =
  '{{index .Config.Labels "com.docker.compose.service"}}\t{{index .Config.Labels "com.docker.compose.oneoff"}}\t{{.Image}}';
const imageFormat = "{{.Id}}\t{{json .RepoDigests}}";

/** Returns the argv listing the IDs of every container of the stack, stopped ones too. */
export function containerIdsArgv(compose: readonly string[]): string[] {
  return [...compose, "ps", "--quiet", "--all"];
}

/** Returns the docker argv printing service, one-off flag and image ID of containers, one per line. */
export function containerImagesArgv(docker: readonly string[], containerIds: readonly string[]): string[] {
  return [...docker, "container", "inspect", "--format", containerFormat, "--", ...containerIds];
}

/** Returns the docker argv printing the ID and registry digests of images, one per line. */
export function imageDigestsArgv(docker: readonly string[], imageIds: readonly string[]): string[] {
  return [...docker, "image", "inspect", "--format", imageFormat, "--", ...imageIds];
}

/** Returns the repository of an image reference without tag or digest, Docker Hub names shortened ("docker.io/library/nginx:1" → "nginx"). */
export function imageRepository(reference: string): string {
  let name = reference.split("@")[0] ?? reference;
  const lastSlash = name.lastIndexOf("/");
  const tagColon = name.indexOf(":", lastSlash + 1);
  if (tagColon >= 0) name = name.slice(0, tagColon);
  const [first, ...rest] = name.split("/");
  const isHub = rest.length > 0 && (first === "docker.io" || first === "index.docker.io");
  const path = isHub ? rest.join("/") : name;
  return path.startsWith("library/") && path.split("/").length === 2 ? path.slice("library/".length) : path;
}

/** Returns the digest reference to pin to: the one of the configured repository, else the first; undefined when there is none. */
export function chooseDigest(
  configuredImage: string | undefined,
  repoDigests: readonly string[],
): string | undefined {
  if (configuredImage !== undefined) {
    const repository = imageRepository(configuredImage);
    const matching = repoDigests.find((digest) => imageRepository(digest) === repository);
    if (matching) return matching;
  }
  return repoDigests[0];
}

/** Returns the compose text with each service's image pinned, and a warning per service that could not be pinned to a pullable digest. Throws BackupError when the text is not a compose file. */
export function pinComposeText(
  text: string,
  images: ReadonlyMap<string, RunningImage>,
  options: { source: string; time: Date },
): { text: string; warnings: string[] } {
  const document = parseDocument(text);
  if (document.errors.length > 0) {
    throw new BackupError(`Cannot pin the images of "${options.source}": ${document.errors[0]?.message}`);
  }
  const services = document.get("services", true);
  if (!isMap(services)) {
    throw new BackupError(`Cannot pin the images of "${options.source}": it has no services mapping`);
  }
  const warnings: string[] = [];
  for (const pair of services.items) {
    const name = String(isScalar(pair.key) ? pair.key.value : pair.key);
    const service = pair.value;
    if (!isMap(service)) continue;
    const configuredNode = service.get("image", true);
    const configured = isScalar(configuredNode) ? String(configuredNode.value) : undefined;
    const running = images.get(name);
    if (!running) {
      warnings.push(`service "${name}" has no container, so its image is not pinned`);
      if (isScalar(configuredNode)) configuredNode.comment = " not pinned: this service had no container";
      continue;
    }
    const digest = chooseDigest(configured, running.repoDigests);
    const node = document.createNode(digest ?? running.imageId) as Scalar;
    const was = configured ?? "a locally built image";
    if (digest) node.comment = ` pinned at backup time; was ${was}`;
    else {
      node.comment = ` image ID, not pullable: ${was} has no registry digest (keep it with docker save)`;
      warnings.push(
        `service "${name}" runs an image without registry digest; pinned to its image ID, which cannot be pulled`,
      );
    }
    service.set("image", node);
  }
  const header = [
    ` Written by backupctl on ${options.time.toISOString()} from ${options.source}:`,
    " every image pinned to what its container ran at backup time.",
  ].join("\n");
  document.commentBefore = document.commentBefore ? `${header}\n${document.commentBefore}` : header;
  return { text: document.toString({ lineWidth: 0 }), warnings };
}

/** Returns the non-empty lines of a command's captured output, split into tab-separated fields. */
function fieldsOf(stdout: string | undefined): string[][] {
  return (stdout ?? "")
    .split("\n")
    .filter((line) => line.trim() !== "")
    .map((line) => line.split("\t"));
}

/** Asks compose and docker which image each service's container runs, with its registry digests. */
async function findRunningImages(
  stack: ComposeStack,
  context: TaskContext,
): Promise<Map<string, RunningImage>> {
  const compose = await stackComposeArgv(context.tools.docker_cmd, stack);
  const docker = context.tools.docker_cli_cmd;
  const ids = await context.run(containerIdsArgv(compose), {
    stdout: "capture",
    timeoutMs: queryTimeoutMs,
    description: "list the stack's containers",
  });
  const containerIds = fieldsOf(ids.stdout).map(([id]) => id as string);
  const images = new Map<string, RunningImage>();
  if (containerIds.length === 0) return images;
  const containers = await context.run(containerImagesArgv(docker, containerIds), {
    stdout: "capture",
    timeoutMs: queryTimeoutMs,
    description: "read the containers' images",
  });
  const imageOfService = new Map<string, string>();
  for (const [service, oneOff, imageId] of fieldsOf(containers.stdout)) {
    // `compose run` containers are one-offs; the service's own container tells what it runs
    if (!service || !imageId || oneOff === "True") continue;
    if (!imageOfService.has(service)) imageOfService.set(service, imageId);
  }
  const imageIds = [...new Set(imageOfService.values())];
  if (imageIds.length === 0) return images;
  const inspected = await context.run(imageDigestsArgv(docker, imageIds), {
    stdout: "capture",
    timeoutMs: queryTimeoutMs,
    description: "read the images' digests",
  });
  const digestsOfImage = new Map<string, string[]>();
  for (const [imageId, digests] of fieldsOf(inspected.stdout)) {
    if (!imageId) continue;
    const parsed: unknown = JSON.parse(digests ?? "null");
    digestsOfImage.set(
      imageId,
      Array.isArray(parsed) ? parsed.filter((item) => typeof item === "string") : [],
    );
  }
  for (const [service, imageId] of imageOfService) {
    images.set(service, { imageId, repoDigests: digestsOfImage.get(imageId) ?? [] });
  }
  return images;
}

/** Writes the stack's compose file with every image pinned to destination and returns the warnings. */
export async function writePinnedComposeFile(
  stack: ComposeStack,
  context: TaskContext,
  destination: string,
): Promise<string[]> {
  const images = await findRunningImages(stack, context);
  const text = await readFile(stack.compose_file, "utf8");
  const pinned = pinComposeText(text, images, { source: stack.compose_file, time: new Date() });
  await writeFile(destination, pinned.text, { mode: 0o600 });
  for (const warning of pinned.warnings) context.logger.warn(warning);
  context.logger.info(`Wrote docker_config/docker-compose.pinned.yml (${images.size} service images pinned)`);
  return pinned.warnings;
}
