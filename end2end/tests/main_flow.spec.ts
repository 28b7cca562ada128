import { expect, Page, test } from "@playwright/test";
import { PASSWORD, uniqueEmail, verificationLink, waitForHydration } from "./support";

/** Register, verify through the mailed link, log in, rename, log out, then
 * check that Back and reload do not bring the account back. */
async function mainFlow(page: Page, javaScript: boolean): Promise<void> {
  const email = uniqueEmail(javaScript ? "js" : "nojs");
  const ready = async () => {
    if (javaScript) await waitForHydration(page);
  };

  await page.goto("/register");
  await ready();
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Display name").fill("Ann Lee");
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: "Create account" }).click();
  await expect(page.getByRole("heading", { name: "Check your email" })).toBeVisible();

  const link = await verificationLink(email);
  expect(new URL(link).origin).toBe(new URL(page.url()).origin);
  await page.goto(link);
  await ready();
  await page.getByRole("button", { name: "Verify email" }).click();
  await expect(page.getByText("Your email address is verified.")).toBeVisible();

  await page.getByRole("link", { name: "Log in" }).click();
  await expect(page).toHaveURL(/\/login$/);
  await ready();
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: "Log in" }).click();
  await expect(page).toHaveURL(/\/account/);
  await expect(page.getByTestId("display-name")).toHaveText("Ann Lee");
  await expect(page.getByTestId("email")).toHaveText(email);
  await expect(page.getByTestId("verified")).toHaveText("Yes");
  await expect(page.getByTestId("activity")).toContainText("Logged in (this site)");
  await expect(page.getByTestId("activity")).toContainText("Email address verified");

  const cookies = await page.context().cookies();
  const session = cookies.find((cookie) => cookie.name === "latchkey_session");
  expect(session, "session cookie").toBeDefined();
  expect(session!.httpOnly).toBe(true);
  expect(session!.secure).toBe(true);
  expect(session!.sameSite).toBe("Lax");
  expect(session!.path).toBe("/");

  await ready();
  await page.getByLabel("Display name").fill("Ann B. Lee");
  await page.getByRole("button", { name: "Save" }).click();
  await expect(page.getByTestId("display-name")).toHaveText("Ann B. Lee");
  await expect(page.getByText("Display name saved.")).toBeVisible();

  await page.getByRole("button", { name: "Log out" }).click();
  await expect(page).toHaveURL(/\/login/);
  await expect(page.getByRole("heading", { name: "Log in" })).toBeVisible();

  await page.goBack();
  await page.reload();
  await expect(page).toHaveURL(/\/login/);
  await expect(page.getByTestId("display-name")).toHaveCount(0);
}

test("main flow with JavaScript", async ({ page }) => {
  const violations: string[] = [];
  page.on("console", (message) => {
    if (/Content.Security.Policy/i.test(message.text())) violations.push(message.text());
  });
  await mainFlow(page, true);
  expect(violations, "the pages run under their own CSP").toEqual([]);
});

test.describe("without JavaScript", () => {
  test.use({ javaScriptEnabled: false });

  test("main flow without JavaScript", async ({ page }) => {
    await mainFlow(page, false);
  });
});

test("registration errors appear beside their fields", async ({ page }) => {
  await page.goto("/register");
  await waitForHydration(page);
  await page.getByLabel("Email").fill("not-an-email");
  await page.getByLabel("Display name").fill("Ann");
  await page.getByLabel("Password").fill("short");
  await page.getByRole("button", { name: "Create account" }).click();

  await expect(page.locator("#field-email-error")).toHaveText("Enter an email address such as name@example.com.");
  await expect(page.locator("#field-password-error")).toHaveText("Use at least 15 characters.");
  await expect(page.locator("#field-display_name-error")).toBeEmpty();
  await expect(page.getByLabel("Email")).toHaveValue("not-an-email");
  await expect(page.getByLabel("Display name")).toHaveValue("Ann");
  await expect(page.getByLabel("Password")).toHaveValue("");
});

test("wrong password and unknown email get the same message", async ({ page }) => {
  for (const email of ["nobody@example.com", "someone.else@example.com"]) {
    await page.goto("/login");
    await waitForHydration(page);
    await page.getByLabel("Email").fill(email);
    await page.getByLabel("Password").fill("wrong password");
    await page.getByRole("button", { name: "Log in" }).click();
    await expect(page.getByRole("alert").filter({ hasText: "Wrong email or password." })).toBeVisible();
    await expect(page).toHaveURL(/\/login/);
  }
});

test("unknown page shows a readable 404", async ({ page }) => {
  const response = await page.goto("/no/such/page");
  expect(response?.status()).toBe(404);
  await expect(page.getByRole("heading", { name: "Page not found" })).toBeVisible();
});

test("strength meter follows the typed password", async ({ page }) => {
  await page.goto("/register");
  await waitForHydration(page);
  await expect(page.getByTestId("password-hint")).toContainText("At least 15 characters.");
  await page.getByLabel("Email").fill("ann.lee@example.com");
  await page.getByLabel("Display name").fill("Ann");
  const label = page.getByTestId("strength-label");
  const meter = page.getByTestId("strength-meter");

  await page.getByLabel("Password").fill("aaaaaaaaaaaaaaaaaa");
  await expect(label).toHaveText("Password strength: Weak");
  await expect(meter).toHaveAttribute("value", "1");

  await page.getByLabel("Password").fill("correct horse battery staple 42!");
  await expect(label).toHaveText("Password strength: Strong");
  await expect(meter).toHaveAttribute("value", "4");

  await page.getByLabel("Password").fill("ann.lee@example.com rocks");
  await expect(label).toHaveText("Password strength: Too weak to use");
  await expect(meter).toHaveAttribute("value", "0");
});
