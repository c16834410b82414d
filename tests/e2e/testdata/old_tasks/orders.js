/**
 * Records an order and reads the customer's orders back, supabase-js style.
 * @param {Object} input
 * @param {string} input.customer
 * @param {number} input.amount
 * @example {"customer": "ada", "amount": 42}
 */
module.exports = async function execute(input, { tools }) {
  const inserted = await tools.supabase.from('orders').insert({ customer: input.customer, amount: input.amount }).select();
  if (inserted.error) throw new Error(inserted.error.message);
  await tools.supabase.from('orders').update({ status: 'paid' }).eq('customer', input.customer);
  const { data, error } = await tools.supabase
    .from('orders').select('customer, amount, status').eq('customer', input.customer).order('amount', { ascending: false }).limit(10);
  if (error) throw new Error(error.message);
  return { count: data.length, first: data[0] };
};
