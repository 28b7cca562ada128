import { defineConfig } from "@playwright/test";
import * as os from "node:os";
import * as path from "node:path";

// The tests start their own SMTP server and a release build of Latchkey on
// loopback ports, with a fresh database and mail folder under E2E_DATA_DIR.
const port = Number(process.env.E2E_PORT ?? 3100);
const smtpPort = Number(process.env.E2E_SMTP_PORT ?? 2525);
const dataDir = process.env.E2E_DATA_DIR ?? path.join(os.tmpdir(), "latchkey-e2e");
const python = process.env.SMTP_SERVER_PYTHON ?? "python3";
const root = path.resolve(__dirname, "..");
export const baseURL = `http://127.0.0.1:${port}`;
export const mailDir = path.join(dataDir, "mail");

process.env.E2E_MAIL_DIR = mailDir;

export default defineConfig({
  testDir: "./tests",
  timeout: 60_000,
  expect: { timeout: 10_000 },
  fullyParallel: false,
  workers: 1,
  forbidOnly: !!process.env.CI,
  retries: 0,
  reporter: [["list"]],
  use: {
    baseURL,
    trace: "retain-on-failure",
    launchOptions: {
      executablePath: "/usr/bin/chromium",
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    },
  },
  webServer: [
    {
      command: `"${python}" -m aiosmtpd -n -l 127.0.0.1:${smtpPort} -c aiosmtpd.handlers.Mailbox "${mailDir}"`,
      port: smtpPort,
      reuseExistingServer: false,
      stdout: "pipe",
      stderr: "pipe",
    },
    {
      command: path.join(root, "target", "release", "latchkey"),
      cwd: root,
      url: `${baseURL}/login`,
      reuseExistingServer: false,
      timeout: 60_000,
      stdout: "pipe",
      stderr: "pipe",
      env: {
        LEPTOS_OUTPUT_NAME: "latchkey",
        LEPTOS_SITE_ROOT: path.join(root, "target", "site"),
        LEPTOS_SITE_PKG_DIR: "pkg",
        LEPTOS_SITE_ADDR: `127.0.0.1:${port}`,
        LEPTOS_ENV: "PROD",
        PUBLIC_URL: baseURL,
        DATABASE_URL: `sqlite://${path.join(dataDir, "latchkey.db")}`,
        SMTP_URL: `smtp://127.0.0.1:${smtpPort}?tls=none`,
        MAIL_FROM: "Latchkey <no-reply@latchkey.test>",
        RUST_LOG: "info,sqlx=warn",
      },
    },
  ],
});
