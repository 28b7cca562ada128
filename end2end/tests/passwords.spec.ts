import { expect, test } from "@playwright/test";
import { logIn, mailedLink, uniqueEmail, verifiedAccount, verifiedLogin, waitForHydration, PASSWORD } from "./support";

const NEW_PASSWORD = "tangerine lantern orbit";

test("forgot password through the mailed link", async ({ page }) => {
  const email = uniqueEmail("forgot");
  await verifiedAccount(page, email);

  await page.goto("/login");
  await waitForHydration(page);
  await page.getByRole("link", { name: "Forgot your password?" }).click();
  await expect(page).toHaveURL(/\/forgot-password$/);
  await page.getByLabel("Email").fill(email);
  await page.getByRole("button", { name: "Send reset link" }).click();
  await expect(page.getByText("a link to choose a new password is on its way")).toBeVisible();

  await page.goto(await mailedLink(email, "Reset your password", "reset-password"));
  await waitForHydration(page);
  await page.getByLabel("New password").fill("short");
  await page.getByRole("button", { name: "Set new password" }).click();
  await expect(page.getByText("Use at least")).toBeVisible();
  await page.getByLabel("New password").fill(NEW_PASSWORD);
  await page.getByRole("button", { name: "Set new password" }).click();
  await expect(page).toHaveURL(/\/login\?reset=1$/);
  await expect(page.getByText("Your password is set.")).toBeVisible();

  await logIn(page, email, NEW_PASSWORD);
  await expect(page.getByTestId("activity")).toContainText("Password reset with a mailed link");
});

test("a password change signs the other browser out", async ({ browser }) => {
  const email = uniqueEmail("change");
  const mine = await browser.newContext();
  const theirs = await browser.newContext();
  const page = await mine.newPage();
  const other = await theirs.newPage();
  await verifiedLogin(page, email);
  await logIn(other, email);

  await page.goto("/account");
  await waitForHydration(page);
  await page.getByRole("link", { name: "Change your password" }).click();
  await expect(page).toHaveURL(/\/account\/security$/);
  await page.getByLabel("Current password").fill(PASSWORD);
  await page.getByLabel("New password").fill(NEW_PASSWORD);
  await page.getByRole("button", { name: "Change password" }).click();
  await expect(page.getByText("Password changed. Every other device has been signed out.")).toBeVisible();

  await page.goto("/account");
  await expect(page.getByTestId("email")).toHaveText(email);
  await other.goto("/account");
  await expect(other).toHaveURL(/\/login\?next=\/account$/);

  await mine.close();
  await theirs.close();
});
