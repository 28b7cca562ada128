import { expect, Page } from "@playwright/test";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { simpleParser } from "mailparser";

export const PASSWORD = "correct horse battery";

/** Returns a fresh address per test, so tests never share an account. */
export function uniqueEmail(label: string): string {
  return `${label}.${Date.now()}.${Math.floor(Math.random() * 1e6)}@example.com`;
}

/** Waits until the WebAssembly app has taken over the page. */
export async function waitForHydration(page: Page): Promise<void> {
  await expect(page.locator("body")).toHaveAttribute("data-hydrated", "true");
}

type Received = { to: string; subject: string; text: string };

async function readMaildir(): Promise<Received[]> {
  const folder = path.join(process.env.E2E_MAIL_DIR!, "new");
  let names: string[];
  try {
    names = await fs.readdir(folder);
  } catch {
    return [];
  }
  const messages: Received[] = [];
  for (const name of names) {
    const parsed = await simpleParser(await fs.readFile(path.join(folder, name)));
    const to = Array.isArray(parsed.to) ? parsed.to[0] : parsed.to;
    messages.push({
      to: to?.value[0]?.address ?? "",
      subject: parsed.subject ?? "",
      text: parsed.text ?? "",
    });
  }
  return messages;
}

/** Waits for the SMTP server to receive a mail with `subject` for `email`
 * and returns the first link to `page` (such as `verify-email`) in it. */
export async function mailedLink(email: string, subject: string, page: string): Promise<string> {
  const pattern = new RegExp(`https?://\\S+/${page}\\?token=[\\w-]+`);
  let link = "";
  await expect
    .poll(
      async () => {
        const mail = (await readMaildir()).find((message) => message.to === email && message.subject === subject);
        link = mail?.text.match(pattern)?.[0] ?? "";
        return link;
      },
      { message: `${subject} mail to ${email}`, timeout: 15_000 },
    )
    .not.toBe("");
  return link;
}

/** Waits for the verification mail for `email` and returns its link. */
export async function verificationLink(email: string): Promise<string> {
  return mailedLink(email, "Verify your email address", "verify-email");
}

/** Creates a verified account through the API, without logging in. */
export async function verifiedAccount(page: Page, email: string): Promise<void> {
  const registered = await page.request.post("/api/auth/register", {
    data: { email, password: PASSWORD, name: "Ann Lee" },
  });
  expect(registered.status()).toBe(201);
  const token = new URL(await verificationLink(email)).searchParams.get("token");
  const verified = await page.request.post("/api/auth/verify-email", { data: { token } });
  expect(verified.status()).toBe(200);
}

/** Logs in through the login page and waits for the account page. */
export async function logIn(page: Page, email: string, password: string = PASSWORD): Promise<void> {
  await page.goto("/login");
  await waitForHydration(page);
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Log in" }).click();
  await expect(page).toHaveURL(/\/account/);
}

/** Creates a verified account through the API and logs it in through the
 * login page. */
export async function verifiedLogin(page: Page, email: string): Promise<void> {
  await verifiedAccount(page, email);
  await logIn(page, email);
}
