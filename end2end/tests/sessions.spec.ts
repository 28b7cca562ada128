import { expect, Page, test } from "@playwright/test";
import { logIn, uniqueEmail, verifiedLogin, waitForHydration } from "./support";

/** Opens the sessions page and ends the one login that is not this one. */
async function revokeTheOtherLogin(page: Page): Promise<void> {
  await page.goto("/account/sessions");
  await waitForHydration(page);
  const rows = page.getByTestId("sessions").locator("tbody tr");
  await expect(rows).toHaveCount(2);
  await expect(page.getByText("(this device)")).toHaveCount(1);
  await rows.filter({ hasNot: page.getByText("(this device)") }).getByRole("button", { name: "Revoke" }).click();
  await expect(page.getByText("Signed out. That device must log in again.")).toBeVisible();
  await expect(rows).toHaveCount(1);
}

test("two browsers revoke each other from the sessions page", async ({ browser }) => {
  const email = uniqueEmail("sessions");
  const first = await browser.newContext();
  const second = await browser.newContext();
  const one = await first.newPage();
  const two = await second.newPage();
  await verifiedLogin(one, email);
  await logIn(two, email);

  await revokeTheOtherLogin(one);
  await two.goto("/account");
  await expect(two).toHaveURL(/\/login\?next=\/account$/);

  await logIn(two, email);
  await revokeTheOtherLogin(two);
  await one.goto("/account");
  await expect(one).toHaveURL(/\/login\?next=\/account$/);

  await first.close();
  await second.close();
});
