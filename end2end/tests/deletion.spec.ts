import { expect, test } from "@playwright/test";
import { uniqueEmail, verifiedLogin, waitForHydration, PASSWORD } from "./support";

test("an account is deleted from its page", async ({ page }) => {
  const email = uniqueEmail("delete");
  await verifiedLogin(page, email);

  await page.goto("/account");
  await waitForHydration(page);
  await page.getByRole("link", { name: "Delete your account" }).click();
  await expect(page).toHaveURL(/\/account\/delete$/);
  await expect(page.getByText(email)).toBeVisible();
  await page.getByLabel("Password").fill("not the password");
  await page.getByRole("button", { name: "Delete my account" }).click();
  await expect(page.getByText("The password is wrong.")).toBeVisible();

  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: "Delete my account" }).click();
  await expect(page).toHaveURL(/\/login\?deleted=1$/);
  await expect(page.getByText("Your account has been deleted.")).toBeVisible();

  await page.goto("/account");
  await expect(page).toHaveURL(/\/login\?next=\/account$/);
  const login = await page.request.post("/api/auth/login", { data: { email, password: PASSWORD } });
  expect(login.status()).toBe(401);
});
