// Comprehensive Gmail search: lists the Workspace domains, each domain's
// users, searches every mailbox and fetches the first messages' metadata.
//
// Input: {query?: string, maxUsersPerDomain?: number, maxMessagesPerUser?: number,
//         samplesPerUser?: number}
module.exports = async function gmailSearch(input) {
  const query = input && input.query ? input.query : 'newer_than:7d';
  const maxUsers = (input && input.maxUsersPerDomain) || 50;
  const maxMessages = (input && input.maxMessagesPerUser) || 20;
  const samplesPerUser = (input && input.samplesPerUser) || 2;

  const domainList = await __callHostTool__('gapi', 'admin.domains.list', {customer: 'my_customer'});
  const domains = (domainList.domains || []).map((d) => d.domainName);
  console.log(`found ${domains.length} domains`);

  // Users of every domain, following the pages.
  const users = [];
  for (const domain of domains) {
    let pageToken;
    do {
      const page = await __callHostTool__('gapi', 'admin.users.list',
          {domain, maxResults: Math.min(maxUsers, 100), pageToken});
      for (const u of page.users || []) users.push({email: u.primaryEmail, domain});
      pageToken = page.nextPageToken;
    } while (pageToken && users.filter((u) => u.domain === domain).length < maxUsers);
  }
  console.log(`searching ${users.length} mailboxes for "${query}"`);

  // Every mailbox searched at once.
  const searches = await Promise.all(users.map((u) =>
      __callHostTool__('gapi', 'gmail.users.messages.list', {userId: u.email, q: query, maxResults: maxMessages})
          .then((r) => ({user: u, messages: r.messages || [], estimate: r.resultSizeEstimate || 0}))
          .catch((e) => ({user: u, messages: [], estimate: 0, error: `${e.code}: ${e.message}`}))));

  // Metadata of the first messages of each mailbox.
  const wanted = [];
  for (const s of searches) {
    for (const m of s.messages.slice(0, samplesPerUser)) wanted.push({user: s.user.email, id: m.id});
  }
  const details = await Promise.all(wanted.map((w) =>
      __callHostTool__('gapi', 'gmail.users.messages.get',
          {userId: w.user, id: w.id, format: 'metadata', metadataHeaders: ['Subject', 'From']})));

  const header = (msg, name) => {
    const h = ((msg.payload && msg.payload.headers) || []).find((x) => x.name === name);
    return h ? h.value : '';
  };
  const samples = details.map((msg, i) => ({
    user: wanted[i].user, id: msg.id, subject: header(msg, 'Subject'), from: header(msg, 'From'),
    snippet: msg.snippet,
  }));

  const perUser = searches.map((s) => ({user: s.user.email, domain: s.user.domain, matches: s.messages.length,
                                        ...(s.error ? {error: s.error} : {})}));
  return {
    query,
    domains,
    counts: {
      domains: domains.length,
      users: users.length,
      mailboxesWithMatches: searches.filter((s) => s.messages.length > 0).length,
      messages: searches.reduce((n, s) => n + s.messages.length, 0),
      samples: samples.length,
    },
    perUser,
    samples,
  };
};
