// Schema of an `influxdb:` task block: `influx backup` of an InfluxDB 2 server. The token is read
// from a file or the environment, never from the service file (which is copied into every archive).

import { z } from "zod";
import { absolutePath, expecting, nonEmptyString } from "../fields.ts";

/** `influxdb:` */
export const influxdbTaskSchema = z
  .strictObject({
    host: z
      .string({ error: expecting("a URL") })
      .regex(/^https?:\/\/[^\s/]+/, { message: "must be a URL such as http://localhost:8086" })
      .default("http://localhost:8086")
      .describe("server URL (default: http://localhost:8086)"),
    org: nonEmptyString().describe("organisation to back up (required)"),
    bucket: nonEmptyString().optional().describe("bucket to back up (default: every bucket)"),
    token_file: absolutePath()
      .optional()
      .describe("file holding the API token, mode 0600 (default: the INFLUX_TOKEN environment variable)"),
    token: z.unknown().optional().describe("refused: write the token to token_file"),
  })
  .superRefine((task, context) => {
    if (task.token !== undefined) {
      context.issues.push({
        code: "custom",
        message: "a token must not be written in the service file: it would be copied into every archive",
        path: ["token"],
        input: task.token,
        params: { hint: "write it to a file with mode 0600 and set token_file, or set INFLUX_TOKEN" },
      });
    }
  })
  .transform(({ token: _token, ...task }) => task);

export type InfluxdbTaskInput = z.input<typeof influxdbTaskSchema>;
export type InfluxdbTask = z.output<typeof influxdbTaskSchema>;
