// Fields shared by the database dump tasks (postgresql, mariadb/mysql): where the server is, who
// connects, where the password comes from, and the compose service to run the dump in.

import { z } from "zod";
import { absolutePath, expecting, hasControlCharacters, optionList, port } from "../fields.ts";
import { composeServiceName } from "./docker.ts";

/** A database name, or "all"; never starting with "-" so it cannot be read as an option. */
export function databaseName() {
  return z
    .string({ error: expecting("a database name") })
    .refine((value) => value.trim() !== "" && !hasControlCharacters(value), {
      message: "must be a database name on one line",
    })
    .refine((value) => !value.startsWith("-"), { message: 'must not start with "-"' });
}

/** A server host name, IP address or (for PostgreSQL) socket directory. */
export function databaseHost() {
  return z
    .string({ error: expecting("a host name, address or socket directory") })
    .refine((value) => /^[A-Za-z0-9_.:%/[\]-]+$/.test(value) && !value.startsWith("-"), {
      message: "must be a host name, an IP address or a socket directory",
    });
}

/** Builds the connection fields of a dump task, with the defaults named in the descriptions. */
export function databaseConnectionShape(defaults: { username: string; port: number }) {
  return {
    database: databaseName().describe('the database to dump, or "all" for every database (required)'),
    hostname: databaseHost()
      .optional()
      .describe("server host name, address or socket directory (default: the local socket)"),
    port: port().optional().describe(`server port (default: ${defaults.port})`),
    username: z
      .string({ error: expecting("a user name") })
      .min(1)
      .optional()
      .describe(`user to connect as (default: ${defaults.username})`),
    password_file: absolutePath()
      .optional()
      .describe("file holding the password, mode 0600 (default: none; the tool's own files such as .pgpass)"),
    dump_options: optionList()
      .default([])
      .describe(
        "extra options for the dump tool: a list, or a string split like a shell does (default: none)",
      ),
    container: composeServiceName()
      .optional()
      .describe(
        "run the dump inside this compose service of the same service file's docker task (default: on the host)",
      ),
  };
}
