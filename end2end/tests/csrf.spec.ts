import { expect, test } from "@playwright/test";
import { uniqueEmail, verifiedLogin } from "./support";

// A page on another loopback port is same-site for cookies (ports do not
// count), so SameSite=Lax still sends the session cookie: the Origin check
// is what stops the forged logout.
test("a form posted from another origin is rejected", async ({ page, baseURL }) => {
  await verifiedLogin(page, uniqueEmail("csrf"));

  const attacker = "http://127.0.0.1:3999/";
  await page.route(attacker, (route) =>
    route.fulfill({
      contentType: "text/html",
      body: `<!DOCTYPE html><form id="forged" method="post" action="${baseURL}/fn/log_out"></form>
             <script>document.getElementById("forged").submit()</script>`,
    }),
  );
  const blocked = page.waitForResponse((response) => response.url().endsWith("/fn/log_out"));
  await page.goto(attacker);
  expect((await blocked).status()).toBe(403);
  await expect(page.getByRole("heading", { name: "Request blocked" })).toBeVisible();

  await page.goto("/account");
  await expect(page).toHaveURL(/\/account/);
  await expect(page.getByTestId("display-name")).toHaveText("Ann Lee");
});
