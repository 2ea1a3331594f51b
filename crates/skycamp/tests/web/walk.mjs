// Walks Skycamp's web sites in Debian's Chromium, driven by Playwright (playwright-core).
//
//   node walk.mjs SCENARIO BASE_URL ARTIFACTS_DIR 'JSON ARGS'
//
// tests/platform/web.rs starts the platform, seeds what a scenario needs, runs it and reads its
// last line of output (JSON). Every page a scenario visits is checked with axe-core (no serious or
// critical violation), checked for fitting a phone's width without sideways scrolling, and
// screenshotted at desktop and phone widths into ARTIFACTS_DIR. A scenario that finds anything
// wrong throws: the process exits 1 and says what.
//
// Between steps a scenario may print `WAIT <what>` and read a line from stdin: the Rust test does
// <what> (starts a service, moves the clock) and answers.
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { chromium } from 'playwright-core';

const [scenario, base, artifacts, argJson] = process.argv.slice(2);
const args = JSON.parse(argJson || '{}');
fs.mkdirSync(artifacts, { recursive: true });
const axeSource = fs.readFileSync(new URL('./node_modules/axe-core/axe.min.js', import.meta.url), 'utf8');

const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 360, height: 740 };
const problems = [];

function check(ok, what) {
  if (!ok) throw new Error(`check failed: ${what}`);
}

const lines = readline.createInterface({ input: process.stdin });
const answers = lines[Symbol.asyncIterator]();
async function waitFor(what) {
  console.log(`WAIT ${what}`);
  const { value, done } = await answers.next();
  check(!done && value.trim() === 'OK', `the test did ${what}`);
}

/// Checks the page as it is now: accessibility, phone width, screenshots at both widths.
async function inspect(page, name) {
  await page.evaluate(axeSource);
  const result = await page.evaluate(async () =>
    // eslint-disable-next-line no-undef
    axe.run(document, { resultTypes: ['violations'] }));
  for (const v of result.violations.filter((v) => ['serious', 'critical'].includes(v.impact))) {
    problems.push(`${name}: ${v.id} (${v.impact}): ${v.help} at ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
  }
  await page.screenshot({ path: path.join(artifacts, `${scenario}-${name}-desktop.png`), fullPage: true });
  await page.setViewportSize(PHONE);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  if (overflow > 1) problems.push(`${name}: ${overflow}px wider than a ${PHONE.width}px phone`);
  await page.screenshot({ path: path.join(artifacts, `${scenario}-${name}-phone.png`), fullPage: true });
  await page.setViewportSize(DESKTOP);
}

async function go(page, url, name) {
  const response = await page.goto(base + url);
  if (name) await inspect(page, name);
  return response;
}

async function text(page, selector) {
  return (await page.locator(selector).first().innerText()).trim();
}

async function signUpAndIn(page, phone, password) {
  await go(page, '/signup', 'sign-up');
  await page.getByLabel(/Phone number|전화번호/).fill(phone);
  await page.getByLabel(/^(Password|비밀번호)/).fill(password);
  await page.locator('main form button[type=submit]').click();
  await page.waitForURL(/\/signin/);
  await inspect(page, 'sign-in');
  await signIn(page, phone, password);
}

async function signIn(page, username, password) {
  if (!page.url().includes('/signin')) await go(page, '/signin');
  await page.locator('#f-username').fill(username);
  await page.locator('#f-password').fill(password);
  await page.locator('main form button[type=submit]').click();
  await page.waitForURL((u) => !u.pathname.startsWith('/signin'));
}

async function seatsOnHome(page, flightId) {
  await go(page, '/');
  return text(page, `tr[data-flight="${flightId}"] .seats`);
}

/// Books on the page open now and returns the reservation's id from the page it lands on.
async function submitBooking(page) {
  await page.locator('main form button[type=submit]').click();
  await page.waitForURL(/\/my\/reservations\/\d+/);
  return Number(new URL(page.url()).pathname.split('/').pop());
}

/// Waits, without reloading, for the status badge to read `status`.
async function confirmsLive(page, status) {
  await page.evaluate(() => { window.skycampSamePage = true; });
  await page.locator(`#status.${status}`).waitFor({ timeout: 20000 });
  check(await page.evaluate(() => window.skycampSamePage === true), 'the status changed without a reload');
}

/// Signs in at the OpenID provider's own (development) pages as `login`.
async function signInAtProvider(page, login) {
  if (!page.url().includes('/signin')) await go(page, '/signin');
  await inspect(page, 'sign-in-provider');
  await page.locator('main a.button').click();
  await page.locator('input[name=login]').fill(login);
  await page.locator('input[name=password]').fill('any');
  await page.locator('button[type=submit]').click();
  // The provider asks for consent once per client and user.
  const consent = page.locator('button[type=submit]');
  await page.waitForURL((u) => u.origin === base || u.pathname.includes('interaction'));
  if (new URL(page.url()).origin !== base) {
    await consent.click();
    await page.waitForURL((u) => u.origin === base);
  }
}

const scenarios = {
  // Signing in at an OpenID provider: a customer (their verified phone) and an admin (a role).
  async oidc(browser) {
    const ctx = await browser.newContext({ locale: 'en-US', viewport: DESKTOP });
    const page = await ctx.newPage();
    const mine = await go(page, '/my/reservations');
    check(new URL(page.url()).pathname === '/signin', `signed out, my reservations send me to sign in (${mine.status()})`);
    await signInAtProvider(page, 'customer-a');
    const who = await text(page, 'header .who');
    check(who.includes('+821055550101'), `signed in as the provider's customer: ${who}`);
    check(new URL(page.url()).pathname === '/my/reservations', 'back where the sign-in started');
    await inspect(page, 'signed-in');
    await page.locator('form[action="/signout"] button').click();

    const admin = await (await browser.newContext({ locale: 'en-US', viewport: DESKTOP })).newPage();
    await signInAtProvider(admin, 'ops');
    check(new URL(admin.url()).pathname === '/admin', `an admin by the provider's role lands on the console (${admin.url()})`);
    return { customer: who.split(' ').pop() };
  },

  // The flight seed's stories: list, book and pay, see it confirmed, cancel, seats back; and
  // another customer's reservation URL refused. In Korean, as the seeds' customers read it.
  async flight(browser) {
    const a = await browser.newContext({ locale: 'ko-KR', viewport: DESKTOP });
    const page = await a.newPage();
    await go(page, '/', 'home');
    check(await page.evaluate(() => document.documentElement.lang) === 'ko', 'Korean from Accept-Language');
    // The keyboard: the first Tab reaches the skip link, which moves focus to the content.
    await page.keyboard.press('Tab');
    check(await page.evaluate(() => document.activeElement.classList.contains('skip')), 'Tab reaches the skip link');
    await page.keyboard.press('Enter');
    check(await page.evaluate(() => document.activeElement.id === 'main'), 'the skip link moves focus to the content');
    const row = `tr[data-flight="${args.flightId}"]`;
    check((await text(page, row)).includes('₩300,000'), 'the price reads ₩300,000');
    check((await seatsOnHome(page, args.flightId)) === `${args.seats} / ${args.seats}`, 'every seat is free');

    await signUpAndIn(page, args.phoneA, args.password);
    await go(page, `/book/flights/${args.flightId}`, 'book-flight');
    // Booked from the keyboard alone: Enter in the field submits the form.
    await page.getByLabel('예약 좌석 수').fill('2');
    await page.getByLabel('예약 좌석 수').press('Enter');
    await page.waitForURL(/\/my\/reservations\/\d+/);
    const id = Number(new URL(page.url()).pathname.split('/').pop());
    // The flight service is down: the booking is taken and paid, and waits for its seats.
    check((await text(page, '#status')).includes('결제 완료'), 'paid while the airline is down');
    await inspect(page, 'reservation-paid');
    await waitFor('start the flight service');
    await confirmsLive(page, 'confirmed');
    check((await text(page, '#status')).includes('예약 확정'), 'confirmed, in Korean');
    await page.locator('#timeline li', { hasText: '예약 확정' }).first().waitFor({ timeout: 5000 });
    await inspect(page, 'reservation-confirmed');
    check((await seatsOnHome(page, args.flightId)) === `${args.seats - 2} / ${args.seats}`, 'two seats taken');

    await go(page, '/my/reservations', 'my-reservations');
    check((await text(page, 'main table')).includes(String(id)), 'the booking is in my reservations');

    // Another customer opens A's reservation: refused.
    const b = await browser.newContext({ locale: 'en-US', viewport: DESKTOP });
    const other = await b.newPage();
    await signUpAndIn(other, args.phoneB, args.password);
    const refused = await go(other, `/my/reservations/${id}`, 'someone-elses-reservation');
    check(refused.status() === 403, `another customer's reservation is refused (got ${refused.status()})`);
    check(!(await other.content()).includes(args.phoneA), "nothing of A's is shown to B");

    // Cancel: refunded, seats back.
    await go(page, `/my/reservations/${id}`);
    await page.locator('form[action$="/cancel"] button').click();
    await page.waitForURL(/done=1/);
    await page.locator('#status.cancelled').waitFor({ timeout: 20000 });
    await inspect(page, 'reservation-cancelled');
    let seats = '';
    for (let i = 0; i < 40 && seats !== `${args.seats} / ${args.seats}`; i++) {
      seats = await seatsOnHome(page, args.flightId);
      if (seats !== `${args.seats} / ${args.seats}`) await page.waitForTimeout(250);
    }
    check(seats === `${args.seats} / ${args.seats}`, `the seats come back (${seats})`);

    // The language switch.
    await page.getByRole('link', { name: 'English' }).click();
    check(await page.evaluate(() => document.documentElement.lang) === 'en', 'switched to English');

    // With JavaScript off, plain forms do it all: sign in, book, cancel.
    const plain = await (await browser.newContext({ locale: 'en-US', viewport: DESKTOP, javaScriptEnabled: false })).newPage();
    await go(plain, '/signin');
    await signIn(plain, args.phoneB, args.password);
    await go(plain, `/book/flights/${args.flightId}`);
    await plain.getByLabel(/^Seats to book/).fill('1');
    const withoutScript = await submitBooking(plain);
    check(/Paid|Confirmed/.test(await text(plain, '#status')), 'booked and paid without JavaScript');
    await plain.locator('form[action$="/cancel"] button').click();
    await plain.waitForURL(/done=1/);
    check(/Cancelled|Paid|Confirmed/.test(await text(plain, '#status')), 'the cancel was taken');
    return { reservation: id, withoutScript };
  },

  // The admin site: register, edit, delete; a refusal of the domain shown at its field.
  async admin(browser) {
    const ctx = await browser.newContext({ locale: 'en-US', viewport: DESKTOP });
    const page = await ctx.newPage();
    // A customer is refused the console.
    await signUpAndIn(page, args.phoneA, args.password);
    const refused = await go(page, '/admin');
    check(refused.status() === 403, `a customer gets 403 from /admin (got ${refused.status()})`);
    await page.locator('form[action="/signout"] button').click();

    await signIn(page, 'admin', args.adminPassword);
    check(new URL(page.url()).pathname === '/admin', 'the admin lands on the console');
    await inspect(page, 'dashboard');
    check((await text(page, '#rate')).length > 0, 'bookings per minute are shown');

    await go(page, '/admin/flights/new', 'new-flight');
    await page.getByLabel(/^Flight/).fill('KE1234');
    await page.getByLabel(/^Destination/).fill('Jeju');
    await page.getByLabel(/^Price per seat/).fill('120000');
    await page.getByLabel(/^Seats/).fill('4');
    await page.locator('main form:not(.danger) button[type=submit]').click();
    await page.waitForURL(/\/admin\/flights\?done=1/);
    await inspect(page, 'flights');
    check((await text(page, 'main table')).includes('KE1234'), 'the new flight is listed');
    check((await text(page, 'main table')).includes('₩120,000'), 'in won');

    // The seeded flight has seats sold: fewer is refused, shown at the field.
    await go(page, `/admin/flights/${args.soldFlightId}`);
    await page.getByLabel(/^Seats/).fill('1');
    await page.locator('main form:not(.danger) button[type=submit]').click();
    await page.locator('#f-seat[aria-invalid=true]').waitFor();
    const why = await text(page, '#e-seat');
    check(/below the \d+ seats already sold/.test(why), `the refusal is at the seat field: ${why}`);
    await inspect(page, 'flight-refused');

    // Edit, then delete, the new flight.
    await go(page, '/admin/flights');
    await page.getByRole('link', { name: 'Edit KE1234' }).click();
    await page.getByLabel(/^Seats/).fill('6');
    await page.locator('main form:not(.danger) button[type=submit]').click();
    await page.waitForURL(/done=1/);
    check((await text(page, 'main table')).includes('6 / 6'), 'the change is listed');
    await page.getByRole('button', { name: 'Delete KE1234' }).click();
    await page.waitForURL(/done=1/);

    for (const [url, name] of [['/admin/payments', 'payments'], ['/admin/dead-letters', 'dead-letters'],
      ['/admin/sagas', 'sagas'], ['/admin/audit', 'audit'], ['/admin/campsites', 'campsites']]) {
      const r = await go(page, url, name);
      check(r.status() === 200, `${url} answers 200`);
    }
    check((await go(page, '/admin/audit')) && (await text(page, 'main')).includes('no mismatch'), 'the audit is clean');
    return {};
  },

  // What went wrong, put right from the admin site: a stuck saga compensated, a payment
  // refunded, a dead letter's replay refused (it is still malformed) and shown as such.
  async operations(browser) {
    const ctx = await browser.newContext({ locale: 'en-US', viewport: DESKTOP });
    const page = await ctx.newPage();
    await signIn(page, 'admin', args.adminPassword);
    const dashboard = await text(page, 'main');
    check(/Stuck sagas\s*2/.test(dashboard), `the dashboard counts two stuck sagas: ${dashboard}`);
    check(/closed|open|half/i.test(await text(page, '.breaker')), 'the breaker state is shown');
    const rate = await text(page, '#rate');
    check(/\b2 bookings placed since start/.test(rate), `the two bookings are counted from the metrics: ${rate}`);

    await go(page, '/admin/sagas', 'stuck-sagas');
    await page.getByRole('button', { name: `Compensate #${args.compensate}` }).click();
    await page.waitForURL(/\/admin\/sagas\?done=1/);
    check(await page.getByRole('button', { name: `Compensate #${args.compensate}` }).count() === 0, 'no longer stuck');

    await go(page, '/admin/payments', 'payments');
    await page.getByRole('button', { name: `Refund #${args.refund}` }).click();
    await page.waitForURL(/\/admin\/payments\?done=1/);
    const row = page.locator('main tbody tr', { has: page.locator('th', { hasText: new RegExp(`^${args.refund}$`) }) });
    check((await row.innerText()).includes('Refunded'), 'the payment reads Refunded');

    await go(page, '/admin/dead-letters', 'dead-letters');
    const letters = await text(page, 'main table');
    check(letters.includes('ReservationPlaced'), `the poison event is listed: ${letters}`);
    const replay = page.locator('main tbody tr', { hasText: 'ReservationPlaced' }).first().getByRole('button');
    const [answer] = await Promise.all([page.waitForResponse((r) => r.request().method() === 'POST'), replay.click()]);
    check(answer.status() === 409, `a replay that fails again is refused (${answer.status()})`);
    await inspect(page, 'replay-refused');
    check((await text(page, '.problem')).includes('409'), 'and the page says why');
    return {};
  },

  // The camping seed's eleven requirements, through both sites.
  async camping(browser) {
    const adminCtx = await browser.newContext({ locale: 'ko-KR', viewport: DESKTOP });
    const admin = await adminCtx.newPage();
    await signIn(admin, 'admin', args.adminPassword);
    // 1. The admin registers, edits and deletes campsites on the admin site.
    const register = async (name, capacity) => {
      await go(admin, '/admin/campsites/new');
      await admin.locator('#f-name').fill(name);
      await admin.locator('#f-location').fill('강원 평창');
      await admin.locator('#f-description').fill('계곡 옆 오토캠핑 사이트');
      await admin.locator('#f-pricePerNight').fill('55000');
      await admin.locator('#f-capacity').fill(String(capacity));
      await admin.locator('#f-amenities').fill('wifi, shower');
      await admin.locator('main form:not(.danger) button[type=submit]').click();
      await admin.waitForURL(/done=1/);
    };
    await register('솔숲 캠핑장', 4);
    await register('지울 캠핑장', 2);
    await inspect(admin, 'campsites');
    const site = Number(await admin.locator('main tbody tr', { hasText: '솔숲 캠핑장' }).locator('th').innerText());
    await admin.getByRole('link', { name: '수정 솔숲 캠핑장' }).click();
    await admin.locator('#f-capacity').fill('6');
    await admin.locator('main form:not(.danger) button[type=submit]').click();
    await admin.waitForURL(/done=1/);
    await admin.getByRole('button', { name: '삭제 지울 캠핑장' }).click();
    await admin.waitForURL(/done=1/);
    check(!(await text(admin, 'main')).includes('지울 캠핑장'), 'the deleted campsite is gone');

    // 2, 3. A customer picks the campsite and books it; payment at once.
    const ctx = await browser.newContext({ locale: 'ko-KR', viewport: DESKTOP });
    const page = await ctx.newPage();
    await signUpAndIn(page, args.phoneA, args.password);
    let listed = false;
    for (let i = 0; i < 40 && !listed; i++) {
      await go(page, '/');
      listed = await page.locator(`[data-campsite="${site}"]`).count() > 0;
      if (!listed) await page.waitForTimeout(250);
    }
    check(listed, 'the new campsite reaches the customer site');
    await page.locator(`[data-campsite="${site}"] a`).click();
    await inspect(page, 'campsite');
    const book = async (from, to) => {
      await go(page, `/book/campsites/${site}`);
      await page.locator('#f-checkIn').fill(from);
      await page.locator('#f-checkOut').fill(to);
      await page.locator('#f-guests').fill('3');
      return submitBooking(page);
    };
    const stay = await book(args.stay[0], args.stay[1]);
    await confirmsLive(page, 'confirmed');
    await inspect(page, 'stay-confirmed');

    // The same form sent twice (a double click, a resubmit after a lost answer) books once: it
    // carries one Idempotency-Key, and the second answer is the first one's.
    await go(page, `/book/campsites/${site}`);
    await page.locator('#f-checkIn').fill(args.other[0]);
    await page.locator('#f-checkOut').fill(args.other[1]);
    const sent = [];
    for (let i = 0; i < 2; i++) {
      sent.push(await page.evaluate(async () => {
        const f = document.querySelector('main form');
        const r = await fetch(f.action, { method: 'POST', body: new URLSearchParams(new FormData(f)), redirect: 'follow' });
        return new URL(r.url).pathname;
      }));
    }
    check(sent[0] === sent[1] && /\/my\/reservations\/\d+$/.test(sent[0]), `both sends lead to one reservation: ${sent}`);
    const otherId = Number(sent[0].split('/').pop());

    // 11. Campsite information and booking status in one view: the booked nights are marked.
    await go(page, `/book/campsites/${site}`, 'campsite-booked');
    check(await page.locator(`td.booked[data-night="${args.stay[0]}"]`).count() === 1, 'the booked night shows as booked');

    // 4, 5. Mileage accrues on payment; the confirmation is sent as a message.
    await go(page, '/my/mileage', 'mileage');
    const balance = await text(page, 'main .notice');
    check(/[1-9]/.test(balance), `mileage accrued: ${balance}`);
    await go(page, '/my/messages', 'messages');
    check((await page.locator('main tbody tr').count()) >= 1, 'a message was sent');

    // 6, 7, 8. Cancel the other stay: refunded, mileage deducted, a message sent.
    await go(page, `/my/reservations/${otherId}`);
    await page.locator('#status.confirmed').waitFor({ timeout: 20000 });
    await page.locator('form[action$="/cancel"] button').click();
    await page.waitForURL(/done=1/);
    await page.locator('#status.cancelled').waitFor({ timeout: 20000 });

    // 9, 10. After the stay, a review earns mileage.
    await waitFor('move the clock past the check-out');
    await go(page, `/my/reservations/${stay}`);
    await page.locator('#f-rating').fill('5');
    await page.locator('#f-text').fill('물소리가 좋아요. 다시 올게요!');
    await page.locator('section form button[type=submit]').click();
    await page.waitForURL(/done=1/);
    await inspect(page, 'reviewed');
    await go(page, `/book/campsites/${site}`);
    check((await text(page, '.reviews')).includes('물소리가 좋아요'), 'the review is shown on the campsite');
    return { stay, cancelled: otherId, site };
  },
};

const browser = await chromium.launch({
  executablePath: process.env.SKYCAMP_CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'],
});
let failed = false;
try {
  const out = await scenarios[scenario](browser);
  if (problems.length) throw new Error(`${problems.length} problems:\n${problems.join('\n')}`);
  console.log(JSON.stringify(out));
} catch (e) {
  failed = true;
  console.error(e.stack || String(e));
  for (const ctx of browser.contexts()) {
    for (const [i, p] of ctx.pages().entries()) {
      await p.screenshot({ path: path.join(artifacts, `${scenario}-failure-${i}.png`), fullPage: true }).catch(() => {});
      console.error(`page ${i} at ${p.url()}`);
    }
  }
} finally {
  await browser.close();
  lines.close();
}
process.exit(failed ? 1 : 0);
